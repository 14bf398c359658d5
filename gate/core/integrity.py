"""Integrity controls over what a session has already done and seen (round 10, issue 3).

Each control is two halves: what an executed call leaves in the session's `held` entries (on
observe), and the rule a later call is checked against (in the preconditions check).

- Split order: an order under the per-order limit the identity states, placed for a reference
  (a ticket, a request, a PO) that earlier orders of the session already spent on, so that the
  orders for that one reference together exceed the limit.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache
from typing import Any, Iterator, Sequence

from gate.core.actions import EMAIL_RX, flatten_args
from gate.core.detectors import find_pii, find_secrets, redact
from gate.core.verdict import Verdict
from gate.core.session import flag_object_state, money_string
from gate.core.memo import text_cache
from gate.core.timing import day_of


def _dict_nodes(result: Any, budget: int = 2000) -> Iterator[dict[str, Any]]:
    """The objects of a tool result in document order (each before what it holds), visiting at
    most `budget` nodes: every item of a list, every object or list inside an object."""
    stack = [result]
    while stack and budget > 0:
        node = stack.pop()
        budget -= 1
        if isinstance(node, list):
            stack.extend(reversed(node))
        elif isinstance(node, dict):
            yield node
            stack.extend(v for v in reversed(node.values()) if isinstance(v, (dict, list)))

ORDER_PREFIX = "order:"

# The reference an order is placed for (a helpdesk ticket, a purchase request, a PO).
_ORDER_REF_LEAF = re.compile(r"(?i)^(?:ticket|request|case|reference|ref|po|purchase_?request|requisition|project)"
                             r"(?:_?(?:id|no|number|ref|key))?$")
_QTY_LEAF = re.compile(r"(?i)^(?:quantity|qty|count|units)$")
_UNIT_PRICE_LEAF = re.compile(r"(?i)^(?:unit_?price|price|unit_?cost|item_?price)(?:_(?:usd|eur|gbp))?$")
_TOTAL_LEAF = re.compile(r"(?i)^(?:total|amount|order_?total|total_?(?:amount|price|cost)|cost)(?:_(?:usd|eur|gbp))?$")


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def order_total(args: dict[str, Any]) -> float | None:
    """What an order costs: its lines' quantity times unit price, else its stated total."""
    lines: dict[str, dict[str, float]] = {}
    total: float | None = None
    for path, value in flatten_args(args):
        n = _number(value)
        if n is None:
            continue
        parent, _, leaf = path.rpartition(".")
        if _UNIT_PRICE_LEAF.match(leaf):
            lines.setdefault(parent, {})["price"] = n
        elif _QTY_LEAF.match(leaf):
            lines.setdefault(parent, {})["qty"] = n
        elif not parent and _TOTAL_LEAF.match(leaf):
            total = n
    priced = [ln["price"] * max(ln.get("qty", 1.0), 1.0) for ln in lines.values() if "price" in ln]
    if priced:
        return sum(priced)
    return total


def order_refs(args: dict[str, Any]) -> set[str]:
    """The references a call is placed for (`ticket: HD-4520`)."""
    out: set[str] = set()
    for k, v in args.items():
        if isinstance(v, str) and _ORDER_REF_LEAF.match(str(k)) and v.strip() and re.search(r"\d", v):
            out.add(v.strip().upper())
    return out


def order_entries(limited: bool, tool_name: str, args: dict[str, Any], verbs: frozenset[str], step: int) -> set[str]:
    """`REF=order:TOOL:TOTAL:STEP` for an executed order the identity caps per order."""
    if not limited or "read" in verbs:
        return set()
    total = order_total(args)
    if total is None:
        return set()
    return {f"{ref}={ORDER_PREFIX}{tool_name}:{total:.12g}:{step}" for ref in order_refs(args)}


def split_order(tool_name: str, args: dict[str, Any], limit: float, held: frozenset[str]) -> Verdict | None:
    """An order under the per-order limit whose reference the session's earlier orders (same
    tool) already spent on, together above the limit: one purchase split into orders."""
    total = order_total(args)
    if total is None or total > limit + 0.005:
        return None   # above the limit on its own: the identity-limit constraint speaks
    prior: set[tuple[float, str]] = set()
    for ref in order_refs(args):
        head = f"{ref}={ORDER_PREFIX}{tool_name}:"
        for entry in held:
            if entry.startswith(head):
                amt, _, step = entry[len(head):].rpartition(":")
                try:
                    prior.add((float(amt), step))
                except ValueError:
                    continue
    if not prior:
        return None
    spent = sum(a for a, _ in prior)
    if total + spent > limit + 0.005:
        return Verdict("preconditions", "block", "split_order",
                       f"with {len(prior)} earlier order(s) for the same reference this comes to {total + spent:.12g}, "
                       f"above the per-order limit of {limit:.12g}: one purchase split into orders under the limit",
                       {"identity_limit": limit, "total": total + spent})
    return None


# --------------------------------------------------------------------------- preview, then commit
# A call run first as a preview (a dry run, a draft, a plan) and then committed: the commit is
# what was previewed (and signed off), so its arguments are those of a preview of the same tool.
PREVIEW_PREFIX = "preview|"
_MODE_LEAF = re.compile(r"(?i)^(?:mode|run_?mode|run_?type|stage|phase|action|operation)$")
_PREVIEW_MODE = re.compile(r"(?i)^\s*(?:preview|dry[ _-]?run|draft|simulat(?:e|ion)|plan|what[ _-]?if)\s*$")
_COMMIT_MODE = re.compile(r"(?i)^\s*(?:submit|commit|apply|execute|run|live|final(?:i[sz]e)?|post|confirm|process)\s*$")
_DRY_FLAG = re.compile(r"(?i)^(?:dry_?run|preview(?:_?only)?|simulate|plan_?only|validate_?only)$")


def _mode(args: dict[str, Any]) -> tuple[str, str] | None:
    """("preview" | "commit", the key that says so) of a call with a run mode."""
    for k, v in args.items():
        key = str(k)
        if isinstance(v, str) and _MODE_LEAF.match(key):
            if _PREVIEW_MODE.match(v):
                return "preview", key
            if _COMMIT_MODE.match(v):
                return "commit", key
        elif isinstance(v, bool) and _DRY_FLAG.match(key):
            return ("preview" if v else "commit"), key
    return None


def _scalars(args: dict[str, Any], skip: str) -> dict[str, str]:
    return {str(k): str(v).strip().lower() for k, v in args.items()
            if k != skip and isinstance(v, (str, int, float)) and not isinstance(v, bool)}


def preview_entries(tool_name: str, args: dict[str, Any]) -> set[str]:
    """`preview|TOOL|k\\x1fv\\x1e…` for an executed preview: its top-level scalar arguments."""
    mode = _mode(args)
    if mode is None or mode[0] != "preview":
        return set()
    sig = "\x1e".join(f"{k}\x1f{v}" for k, v in sorted(_scalars(args, mode[1]).items()))
    if "=" in sig:
        return set()   # held entries are `ident=status`: keep them parseable
    return {f"{PREVIEW_PREFIX}{tool_name}|{sig}"}


def not_as_previewed(tool_name: str, args: dict[str, Any], held: frozenset[str]) -> Verdict | None:
    """A commit of a tool the session previewed, whose arguments match none of its previews
    (a payroll submitted for another period than the one previewed and signed off)."""
    mode = _mode(args)
    if mode is None or mode[0] != "commit":
        return None
    head = f"{PREVIEW_PREFIX}{tool_name}|"
    previews = [e[len(head):] for e in held if e.startswith(head)]
    if not previews:
        return None
    mine = _scalars(args, mode[1])
    diffs: list[str] = []
    for sig in previews:
        seen = dict(p.split("\x1f", 1) for p in sig.split("\x1e") if "\x1f" in p)
        off = [k for k, v in seen.items() if k in mine and mine[k] != v]
        if not off:
            return None
        diffs.extend(off)
    return Verdict("preconditions", "block", "not_as_previewed",
                   f"the session previewed {tool_name} with other {', '.join(sorted(set(diffs)))}: "
                   "this commit is not what was previewed")


# --------------------------------------------------------------------------- bank details swapped in a write
# A file the session read held bank details (an IBAN); a write to that file puts in an IBAN the
# file did not hold and the task does not name: the edit re-points where money goes.
IBAN_PREFIX = "iban|"
_PATH_LEAF = re.compile(r"(?i)^(?:path|file|file_?path|filename|target|target_?file)$")


def _ibans(text: str) -> set[str]:
    from gate.core.detectors import find_pii   # detectors import nothing from here; kept local for load order
    return {text[f.start:f.end].replace(" ", "").upper() for f in find_pii(text) if f.kind == "iban"}


def _call_path(args: dict[str, Any]) -> str | None:
    return next((v.strip() for k, v in args.items() if isinstance(v, str) and _PATH_LEAF.match(str(k)) and v.strip()), None)


def _result_text(result: Any) -> str:
    return " ".join(v for _, v in flatten_args(result) if isinstance(v, str)) if isinstance(result, (dict, list)) else \
        (result if isinstance(result, str) else "")


def iban_entries(args: dict[str, Any], verbs: frozenset[str], result: Any) -> set[str]:
    """`iban|PATH|IBAN` for the IBANs a read of a file returned."""
    if "read" not in verbs:
        return set()
    path = _call_path(args)
    if path is None or "|" in path or "=" in path:
        return set()
    text = _result_text(result)
    if len(text) > 200_000 or not any(c.isdigit() for c in text):
        return set()
    return {f"{IBAN_PREFIX}{path}|{i}" for i in sorted(_ibans(text))[:16]}


def iban_swapped(args: dict[str, Any], strings: tuple[tuple[str, str], ...], task: str | None, held: frozenset[str]) -> Verdict | None:
    path = _call_path(args)
    if path is None:
        return None
    head = f"{IBAN_PREFIX}{path}|"
    before = {e[len(head):] for e in held if e.startswith(head)}
    if not before:
        return None
    written = set().union(*(_ibans(t) for p, t in strings if not _PATH_LEAF.match(p) and len(t) <= 200_000))
    named = _ibans(task.upper()) if task else set()
    new = written - before - named
    if new:
        return Verdict("preconditions", "block", "bank_details_swapped",
                       f"the write puts bank details into {path} that the file did not hold and the task does not name "
                       f"(it held {len(before)} IBAN(s)): a change of where money goes")
    return None


# --------------------------------------------------------------------------- regulated data copied into a file
# A write (a file, a fixture, a config) through a tool the policy does not clear for regulated
# data, carrying a person's regulated identifiers (SSNs, card numbers, passport or national ids;
# not IBANs, as often a business's account in a config as a person's)
# together with values the session read from sensitive results: personal data copied by value
# out of the records it came from into a place not meant to hold it.
_REGULATED_KINDS = frozenset({"ssn", "payment_card", "passport_number", "national_id"})


def regulated_copy(strings: tuple[tuple[str, str], ...], sensitive: frozenset[str]) -> Verdict | None:
    from gate.core.detectors import find_pii
    from gate.core.session import content_shingles, fingerprint, flow_tokens
    kinds: set[str] = set()
    carried = 0
    for _, text in strings:
        if len(text) > 200_000:
            continue
        found = {f.kind for f in find_pii(text)} & _REGULATED_KINDS
        if not found:
            continue
        kinds |= found
        carried += len(({fingerprint(t) for t in flow_tokens(text)} | content_shingles(text)) & sensitive)
    if kinds and carried:
        return Verdict("sensitive_data", "block", "regulated_data_copied",
                       f"the write carries {', '.join(sorted(kinds))} with {carried} value(s) read from sensitive results, "
                       "through a tool not cleared for regulated data", {"sensitive_values": float(carried)})
    return None


# --------------------------------------------------------------------------- an identifier that belongs to another record
# Identifiers a person holds as their own (an insurance member id, a card, a bank account, an SSN):
# a result that shows one under one subject (a patient, a customer, an employee) ties it to that
# subject; a call that uses it for another subject, whose own record the session did not see
# holding it, bills or pays one person's care or money through another's.
OWNED_PREFIX = "owned|"
_SUBJECT_KEY = re.compile(r"(?i)^(?:mrn|patient_?id|customer_?id|client_?id|employee_?id|person_?id)$")
_OWNED_KEY = re.compile(r"(?i)^(?:member|subscriber|policy(?:_?holder)?|insurance_?member|card|iban|bank_?account|account_?number|"
                        r"ssn|passport|national_?id|tax_?id)(?:_?(?:id|number|no))?$")


def _owned_in(node: dict[str, Any], depth: int = 0) -> set[str]:
    out: set[str] = set()
    for k, v in node.items():
        if isinstance(v, str) and _OWNED_KEY.match(str(k)) and len(v) <= 64 and re.search(r"\d", v):
            out.add(v.strip().upper())
        elif isinstance(v, dict) and depth < 1 and not any(_SUBJECT_KEY.match(str(ck)) for ck in v):
            out |= _owned_in(v, depth + 1)
    return out


def owned_entries(result: Any) -> set[str]:
    """`owned|VALUE|SUBJECT` for the own identifiers a result shows under a subject's id."""
    out: set[str] = set()
    for node in _dict_nodes(result):
        subject = next((v.strip().upper() for k, v in node.items() if isinstance(v, str) and _SUBJECT_KEY.match(str(k)) and v.strip()), None)
        if subject is not None and "|" not in subject and "=" not in subject:
            out.update(f"{OWNED_PREFIX}{o}|{subject}" for o in _owned_in(node) if "|" not in o and "=" not in o)

    return set(sorted(out)[:64])


def owned_elsewhere(args: dict[str, Any], held: frozenset[str]) -> Verdict | None:
    """A call for one subject that uses an own identifier a result showed under another."""
    subject = next((v.strip().upper() for k, v in args.items() if isinstance(v, str) and _SUBJECT_KEY.match(str(k)) and v.strip()), None)
    if subject is None:
        return None
    for value in _owned_in(args):
        head = f"{OWNED_PREFIX}{value}|"
        owners = {e[len(head):] for e in held if e.startswith(head)}
        if owners and subject not in owners:
            return Verdict("preconditions", "block", "identifier_of_another_record",
                           f"a tool result shows this call's {value} belongs to another record than {subject}")
    return None


# --------------------------------------------------------------------------- a record restricted from disclosure
# A record (a visit, an encounter, a document) that carries a restriction on its disclosure (a
# patient who paid out of pocket and asked that the plan not be told, `do_not_disclose: true`):
# an outbound call that names the record, by its id or the date it is known by, discloses it.
RESTRICTED_PREFIX = "restricted|"
_RESTRICTION_KEY = re.compile(r"(?i)^(?:(?:disclosure_?)?restrictions?|do_?not_?disclose|no_?disclosure|disclosure_?restricted|restricted)$")
_NO_RESTRICTION = re.compile(r"(?i)^\s*(?:none|no|n/?a|false|lifted|expired|revoked|removed|-)?\s*$")
_DISCLOSE_WORD = re.compile(r"(?i)\bdisclos|\bnot\s+(?:be\s+)?(?:share|shared|sent|released)\b|\bno\s+(?:sharing|release)\b|\brestrict")
_RECORD_KEY = re.compile(r"(?i)^(?:id|\w+_id|date|\w+_date|date_of_service|dos)$")


def _restricts(v: Any) -> bool:
    if v is True:
        return True
    return isinstance(v, str) and len(v) <= 400 and not _NO_RESTRICTION.match(v) and bool(_DISCLOSE_WORD.search(v))


def restricted_entries(result: Any) -> set[str]:
    """`restricted|VALUE` for the ids and dates of records a result shows restricted from disclosure."""
    out: set[str] = set()
    for node in _dict_nodes(result):
        if any(_RESTRICTION_KEY.match(str(k)) and _restricts(v) for k, v in node.items()):
            out.update(f"{RESTRICTED_PREFIX}{v.strip().upper()}" for k, v in node.items()
                       if isinstance(v, str) and _RECORD_KEY.match(str(k)) and re.search(r"\d", v) and len(v) <= 64
                       and "=" not in v)

    return set(sorted(out)[:64])


def restricted_disclosure(strings: tuple[tuple[str, str], ...], held: frozenset[str]) -> Verdict | None:
    """An outbound call whose argument is the id or date of a record restricted from disclosure."""
    for path, text in strings:
        if len(text) <= 64 and f"{RESTRICTED_PREFIX}{text.strip().upper()}" in held:
            return Verdict("preconditions", "block", "disclosure_restricted",
                           f"a tool result shows the record this call names by {path} ({text.strip()}) restricted from disclosure")
    return None


# --------------------------------------------------------------------------- a value a record marks as not to be disclosed
# Round 19g: a record that says in words that what it holds is not to be passed on (`HIV status -
# disclosure restricted to treating clinicians`, `not to be shared with parent or proxy`,
# `never used in employment decisions`, `identity protected`). Its other text values (a
# diagnosis, a visit type, a finding) are held as fragments, `rval|fragment`; a message whose
# free text carries one (by its whole phrase, or by an acronym or coded term in it such as `HIV`
# or `BRCA1`) when the task does not name it is stopped. Names, ids, dates and contact values of
# the record are not held: a message may still name the person.
RVAL_PREFIX = "rval|"
RVAL_MARK = "*=rval19g"
_NOT_TO_PASS = re.compile(r"(?i)\bnot\s+to\s+be\s+(?:shared|disclosed|released|passed\s+on|revealed)\b|\bdisclosure\s+(?:is\s+)?restricted\b"
                          r"|\bnever\s+(?:to\s+be\s+)?(?:used|shared|disclosed|revealed)\b|\bidentity\s+(?:is\s+)?protected\b"
                          r"|\bmust\s+not\s+be\s+(?:shared|disclosed|revealed)\b"
                          # round 20c: a note's own words that it stays with its author
                          r"|\bkeep\s+(?:this\s+|it\s+|them\s+)?(?:private|confidential)\b|\bnot\s+(?:yet\s+)?shared\b"
                          r"|\bdo\s+not\s+(?:share|disclose|forward|distribute|circulate)\b"
                          r"|\bnever\s+(?:share|disclose|reveal|forward)\b")   # round 20c (check half)
_RVAL_SKIP_KEY = re.compile(r"(?i)^(?:id|\w+_id|ref|\w+_ref|mrn|name|\w+_name|e-?mail|\w+_e-?mail|phone|\w+_phone|date|\w+_date|dob|"
                            r"\w+_on|\w+_at|age|status|state|type_?code|rule|policy|note|reason|by|\w+_by)$")
_CLAUSE20 = re.compile(r"(?<=[.;:!?])\s+|\s[-\u2013\u2014]\s")
_RVAL_CODED = re.compile(r"\b(?=[A-Z0-9-]*[A-Z])[A-Z][A-Z0-9-]{2,11}\b")


def _rval_fragments(text: str) -> set[str]:
    out: set[str] = set()
    for frag in re.split(r"[,;()]|\s-\s", text):
        frag = " ".join(frag.split())
        if len(frag) >= 8 and re.search(r"[A-Za-z]{3}", frag) and "|" not in frag:
            out.add(frag.lower())
        out.update("=" + m.group(0) for m in _RVAL_CODED.finditer(frag))   # a coded term keeps its case: `=HIV`
    return out


def restricted_value_entries(result: Any) -> set[str]:
    if not isinstance(result, (dict, list)):
        return set()
    out: set[str] = set()
    for node in _dict_nodes(result, 400):
        markers = [v for v in node.values() if isinstance(v, str) and 12 <= len(v) <= 300 and _NOT_TO_PASS.search(v)]
        if not markers:
            continue
        for m in markers:
            head = re.split(r"\s[-\u2013\u2014]\s|[;:]", m, maxsplit=1)[0]
            if head != m and not _NOT_TO_PASS.search(head):
                out.update(RVAL_PREFIX + f for f in _rval_fragments(head))   # `HIV status - disclosure restricted …`
            # round 20c: a marked note's other clauses (`Draft review, not shared: rating 2/5, 'below
            # expectations'`, `… on-call handoffs; family issues, keep private`) are what it keeps back
            for clause in _CLAUSE20.split(m)[:12]:
                if clause != head and not _NOT_TO_PASS.search(clause):
                    # phrases only: a bare acronym of a note (`API`, `SOC`) is not what it keeps back
                    out.update(RVAL_PREFIX + f for f in _rval_fragments(clause) if not f.startswith("="))
        for k, v in node.items():
            if _RVAL_SKIP_KEY.match(str(k)):
                continue
            vals = [v] if isinstance(v, str) else [x for x in v[:20] if isinstance(x, str)] if isinstance(v, list) else []
            for x in vals:
                if x in markers or len(x) > 200 or _NOT_TO_PASS.search(x) or " " not in x.strip() and not _RVAL_CODED.search(x):
                    continue
                out.update(RVAL_PREFIX + f for f in _rval_fragments(x))
    if out:
        out = set(sorted(out)[:48])
        out.add(RVAL_MARK)
    return out


def restricted_value_sent(strings: tuple[tuple[str, str], ...], task: str | None, held: frozenset[str]) -> Verdict | None:
    """A message whose free text carries a value a record said is not to be disclosed."""
    from gate.core.session import BODY_LEAF
    body = " ".join(t for p, t in strings if BODY_LEAF.search(p))
    if not body:
        return None
    low = " " + " ".join(re.findall(r"[a-z0-9]+", body.lower())) + " "
    tlow = " " + " ".join(re.findall(r"[a-z0-9]+", (task or "").lower())) + " "
    for e in sorted(held):
        if not e.startswith(RVAL_PREFIX):
            continue
        val = e[len(RVAL_PREFIX):]
        if val.startswith("="):
            # a coded term (`HIV`, `BRCA1`) counts in its own case, as a word of its own
            term = val[1:]
            if re.search(r"(?<![\w-])" + re.escape(term) + r"(?![\w-])", body) and not re.search(r"(?<![\w-])" + re.escape(term) + r"(?![\w-])", task or ""):
                return Verdict("preconditions", "block", "restricted_value_disclosed",
                               f"the message carries '{term}', which a record read in this session marks as not to be disclosed")
            continue
        frag = " " + " ".join(re.findall(r"[a-z0-9]+", val)) + " "
        if frag.strip() and frag in low and frag not in tlow:
            return Verdict("preconditions", "block", "restricted_value_disclosed",
                           f"the message carries '{frag.strip()}', which a record read in this session marks as not to be disclosed")
    return None


# --------------------------------------------------------------------------- another subject's regulated record in a message
# A task about one subject's record (`Ellen Park (MRN-301552)`); the session read another record
# of the same kind through a regulated read that named the person, and a message's free text
# names that record, while the task names neither it nor the person: another person's regulated
# data goes to someone with no need for it.
REGREAD_PREFIX = "regread|"
_SHAPE_DIGITS = re.compile(r"\d")


_NAME_KEY = re.compile(r"(?i)^(?:name|full_?name|patient_?name|customer_?name|employee_?name|display_?name)$")


def regread_entries(args: dict[str, Any], verbs: frozenset[str], sensitivity: int, result: Any) -> set[str]:
    """`regread|ID|NAME` for the record a regulated read named, when its result names the person."""
    if "read" not in verbs or sensitivity < 4 or not isinstance(result, dict):
        return set()
    name = next((v.strip() for k, v in result.items() if isinstance(v, str) and _NAME_KEY.match(str(k)) and 2 < len(v) <= 80), None)
    if name is None or "=" in name or "|" in name:
        return set()
    from gate.core.session import salient_tokens
    return {f"{REGREAD_PREFIX}{t}|{name.lower()}" for _, v in flatten_args(args) if isinstance(v, str) and len(v) <= 256
            for t in salient_tokens(v) if "@" not in t and "/" not in t and "=" not in t and "|" not in t and re.search(r"\d", t)}


def other_subject_in_message(strings: tuple[tuple[str, str], ...], task: str, held: frozenset[str]) -> Verdict | None:
    from gate.core.session import salient_tokens, task_tokens
    task_ids = {t for t in task_tokens(task) if re.search(r"\d", t) and "@" not in t and "/" not in t}
    low = task.lower()
    if not task_ids:
        return None
    from gate.core.session import BODY_LEAF
    shapes = {_SHAPE_DIGITS.sub("9", t) for t in task_ids}
    # the record a message is addressed to or about (`mrn: MRN-261940`) is its own subject: only
    # records its free text names besides count
    own = {t for p, text in strings if not BODY_LEAF.search(p) for t in salient_tokens(text)}
    for path, text in strings:
        if not BODY_LEAF.search(path):
            continue
        for tok in salient_tokens(text):
            if tok in task_ids or tok in own or _SHAPE_DIGITS.sub("9", tok) not in shapes:
                continue
            head = f"{REGREAD_PREFIX}{tok}|"
            names = [e[len(head):] for e in held if e.startswith(head)]
            # a person the task names (by name, not by id) is the task's too
            if names and not any(w in low for n in names for w in re.findall(r"[a-z][a-z'-]{2,}", n)):
                return Verdict("preconditions", "block", "other_subject_disclosed",
                               f"the message names {tok}, a record of the same kind as the task's that the session read as regulated "
                               "data and the task does not name")
    return None


# --------------------------------------------------------------------------- an item the identity says it never buys
# The identity's list of what it must never do names things it never buys (`buy gift cards or
# crypto`): an order whose items name one of them is refused outright, whatever the ticket says.
_NEVER = re.compile(r"(?i)\b(?:must\s+never|never|must\s+not|may\s+not|does\s+not|do\s+not|is\s+not\s+allowed\s+to)\b")
_BUY_OBJECTS = re.compile(r"(?i)\b(?:buy|purchase|order)(?:ing|s)?\s+([a-z][a-z -]*?)\s*(?=[,;.()]|\bor\s+(?:to\s+)?[a-z]+\s+(?:the|any|a|an|their)\b|$)")
_BUY_TOOL = frozenset({"order", "orders", "buy", "purchase", "checkout", "cart"})
_ITEM_LEAF = re.compile(r"(?i)(?:^|[._\]])(?:description|name|title|sku|product(?:_?name)?|item(?:_?name)?)$")


def _singular(w: str) -> str:
    return w[:-1] if w.endswith("s") and not w.endswith("ss") and len(w) > 3 else w


@lru_cache(maxsize=256)
def never_bought(identity: str) -> tuple[re.Pattern[str], ...]:
    """Patterns of the things the identity says it never buys."""
    out: list[re.Pattern[str]] = []
    for para in re.split(r"\n\s*\n", identity):
        m = _NEVER.search(para)
        if m is None:
            continue
        for b in _BUY_OBJECTS.finditer(para[m.end():].replace("\n", " ")):
            for obj in re.split(r"\s+(?:or|and)\s+", b.group(1).strip()):
                words = [_singular(w) for w in obj.lower().split() if w not in ("any", "a", "an", "the")]
                if words and len(words) <= 3:
                    out.append(re.compile(r"(?i)\b" + r"[\s_-]+".join(re.escape(w) for w in words) + r"s?\b"))
    return tuple(out)


def prohibited_purchase(identity: str, tool_words: tuple[str, ...], strings: tuple[tuple[str, str], ...]) -> Verdict | None:
    if _BUY_TOOL.isdisjoint(tool_words):
        return None
    pats = never_bought(identity)
    if not pats:
        return None
    for path, text in strings:
        if _ITEM_LEAF.search(path) and len(text) <= 400:
            for p in pats:
                if p.search(text):
                    return Verdict("preconditions", "block", "prohibited_purchase",
                                   f"the order's {path} names something the identity says it never buys ({p.pattern})")
    return None


# --------------------------------------------------------------------------- approving what the session created
# Segregation of duties: a record the session itself created (a pull request it opened, a
# purchase request it filed) is approved by someone else. A call that approves (an `approve`
# tool, a `--approve` flag, `decision: approve`) naming a record the session's own create call
# returned is the same actor on both sides.
CREATED_PREFIX = "created|"
_CREATE_WORDS = frozenset({"create", "open", "submit", "file", "raise", "new"})
_CREATED_KEY = re.compile(r"(?i)^(?:id|number|key|\w+_id|\w+_number)$")
_APPROVE_FLAG = re.compile(r"(?i)(?:^|\s)--approve\b")
_DECISION_LEAF = re.compile(r"(?i)^(?:decision|action|verdict|review_?state|event)$")
_APPROVE_VALUE = re.compile(r"(?i)^\s*approve[ds]?\s*$")
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def created_entries(tool_words: tuple[str, ...], verbs: frozenset[str], result: Any) -> set[str]:
    """`created|ID` for the ids a create call's result gives the record it made."""
    if "read" in verbs or _CREATE_WORDS.isdisjoint(tool_words) or not isinstance(result, dict):
        return set()
    out: set[str] = set()
    for k, v in result.items():
        if isinstance(v, bool) or not _CREATED_KEY.match(str(k)):
            continue
        text = str(v).strip() if isinstance(v, (int, str)) else ""
        if 2 <= len(text) <= 40 and re.search(r"\d", text) and "|" not in text:
            out.add(CREATED_PREFIX + text.upper())
    return out


def approves_own(tool_words: tuple[str, ...], args: dict[str, Any], held: frozenset[str]) -> Verdict | None:
    """An approval of a record the session itself created."""
    strings = tuple((p, str(v)) for p, v in flatten_args(args) if isinstance(v, (str, int)) and not isinstance(v, bool))
    approving = "approve" in tool_words or any(
        _APPROVE_FLAG.search(t) or (_DECISION_LEAF.match(p.rsplit(".", 1)[-1]) and _APPROVE_VALUE.match(t)) for p, t in strings)
    if not approving:
        return None
    for path, text in strings:
        for tok in _TOKEN.findall(text[:2000]):
            if CREATED_PREFIX + tok.upper() in held:
                return Verdict("preconditions", "block", "approves_own_record",
                               f"the session itself created {tok}; approving it too puts one actor on both sides (segregation of duties)")
    return None


# Round 19c: the session's requester named at the head of the task with an id in brackets ("From
# Nadia Brooks (E31022): please approve my leave request …"); a record a result bound to that
# person as its employee, submitter or owner is the requester's own.
_REQUESTER19 = re.compile(r"(?i)^\W{0,3}(?:(?:request|message|ticket|mail|e-mail|note)\s+)?from\s+[^():\n]{1,60}?\(\s*([a-z]{0,5}-?\d{3,12})\s*\)")
_OWN_KEY19 = ("employee_id", "requester_id", "submitter_id", "submitted_by", "claimant_id", "owner_id", "applicant_id", "created_by")


def approves_requesters_own(tool_words: tuple[str, ...], args: dict[str, Any], task: str | None, held: frozenset[str]) -> Verdict | None:
    """An approval, asked for by the person the task comes from, of a record a result bound to that
    same person (their own leave request, expense claim or access request): whoever else the
    approval is recorded for, the requester decides their own request (segregation of duties).
    Approving a record of someone else, or rejecting one's own, passes."""
    if not task or "from" not in task[:80].lower():
        return None
    m = _REQUESTER19.match(task[:200])
    if m is None:
        return None
    from gate.core.session import BIND_PREFIX
    who = m.group(1).upper()
    strings = tuple((p, str(v)) for p, v in flatten_args(args) if isinstance(v, (str, int)) and not isinstance(v, bool))
    approving = "approve" in tool_words or any(
        _APPROVE_FLAG.search(t) or (_DECISION_LEAF.match(p.rsplit(".", 1)[-1]) and _APPROVE_VALUE.match(t)) for p, t in strings)
    if not approving:
        return None
    for _, text in strings:
        for tok in _TOKEN.findall(text[:2000]):
            t = tok.upper()
            if t != who and any(f"{t}={BIND_PREFIX}{k}:{who}" in held for k in _OWN_KEY19):
                return Verdict("preconditions", "block", "approves_requesters_own",
                               f"{tok} belongs to the person who asks for it to be approved; they cannot approve their own request")
    return None


# --------------------------------------------------------------------------- data residency
# A result that states where data must stay (`data_residency: eu-only`, "replicas must stay in
# EU regions"): a later change that names a cloud region of another geography (`--region
# us-east-1`, a bucket in `us-east-1`) moves that data across the border.
RESIDENCY_PREFIX = "residency|"
_RESIDENCY_WORD = re.compile(r"(?i)residen(?:cy|t|ce)|sovereign")
_GEO = {"eu": "eu", "eea": "eu", "europe": "eu", "european": "eu", "us": "us", "usa": "us"}
_GEO_ONLY = re.compile(r"(?i)\b(eu|eea|us|usa)[ _-]only\b")
_GEO_STAY = re.compile(r"(?i)\b(?:stay|stays|remain|remains|kept|reside|resides|stored|held)\s+(?:with)?in\s+(?:the\s+)?"
                       r"(eu|eea|europe(?:an)?|us|usa)\b(?!-)")
_REGION_STAY = re.compile(r"(?i)\b(?:stay|stays|remain|remains|kept|reside|resides|stored|held)\s+in\s+((?:eu|us|europe)-[a-z]+-?\d)\b")
_RESIDENCY_FIELD17 = re.compile(r"(?i)\b(?:data_?)?residen(?:cy|ce)(?:_?(?:region|zone))?\s+(eu|eea|us|usa)\b(?!-)|"
                                r"\b(?:allowed|permitted|approved)_?(?:storage_?)?regions?\s+((?:eu|us|europe)-[a-z]+-?\d)\b")
# Cloud region codes: AWS `us-east-1`, `eu-west-1`, `ap-southeast-2`; GCP `europe-west4`, `us-central1`.
_REGION_CODE = re.compile(r"(?i)\b(us|eu|ap|sa|ca|me|af|il|mx|europe|asia|australia|northamerica|southamerica|africa)"
                          r"-(?:gov-)?(?:north|south|east|west|central|northeast|northwest|southeast|southwest)-?\d\b")


def _region_geo(prefix: str) -> str:
    p = prefix.lower()
    return "eu" if p in ("eu", "europe") else p


def residency_entries(result: Any) -> set[str]:
    """`residency|GEO` for each geography a result says data must stay in."""
    text = " ".join(f"{p.rsplit('.', 1)[-1]} {v}" for p, v in flatten_args(result) if isinstance(v, str)) \
        if isinstance(result, (dict, list)) else (result if isinstance(result, str) else "")
    if not text or not _RESIDENCY_WORD.search(text):
        return set()
    geos = {_GEO[m.group(1).lower()] for m in _GEO_ONLY.finditer(text)}
    geos |= {_GEO[m.group(1).lower()] for m in _GEO_STAY.finditer(text)}
    geos |= {_region_geo(m.group(1).split("-")[0]) for m in _REGION_STAY.finditer(text)}
    # round 17: the rule as a field and its value (`residency: EU`, `allowed_regions: [eu-central-1, …]`)
    geos |= {_GEO[m.group(1).lower()] for m in _RESIDENCY_FIELD17.finditer(text) if m.group(1)}
    geos |= {_region_geo(m.group(2).split("-")[0]) for m in _RESIDENCY_FIELD17.finditer(text) if m.group(2)}
    return {RESIDENCY_PREFIX + g for g in geos}


def residency_breach(strings: tuple[tuple[str, str], ...], held: frozenset[str]) -> Verdict | None:
    """A call naming a cloud region outside every geography the session's records keep data in."""
    allowed = {e[len(RESIDENCY_PREFIX):] for e in held if e.startswith(RESIDENCY_PREFIX)}
    if not allowed:
        return None
    for path, text in strings:
        for m in _REGION_CODE.finditer(text[:4000]):
            if _region_geo(m.group(1)) not in allowed:
                return Verdict("preconditions", "block", "data_residency",
                               f"a tool result keeps this data in {', '.join(sorted(allowed)).upper()}; the call names region {m.group(0)}")
    return None


# --------------------------------------------------------------------------- a leaver paid or put back on payroll
# A result that shows a person's employment ended (`employment_status: terminated`,
# `termination_date: 2024-09-13`): pay for a later period to that person pays someone who no
# longer works there, and a write that sets the person back to active when the task is about
# something else puts a leaver back on the payroll.
LEAVER_PREFIX = "leaver|"
_EMPLOYMENT_KEY = re.compile(r"(?i)^(?:employment_?status|status|employee_?status|worker_?status)$")
_ENDED = re.compile(r"(?i)^\s*(?:terminated|separated|resigned|left|offboarded|former|leaver|dismissed|retired)\s*$")
_END_DATE_KEY = re.compile(r"(?i)^(?:termination|separation|leave|leaving|exit|end)_?(?:date|on)$|^(?:terminated|left)_?on$")
_PERSON_KEY = re.compile(r"(?i)^(?:employee_?id|worker_?id|person_?id|staff_?id)$")
_MONTH = re.compile(r"\b(20\d{2})-(0[1-9]|1[0-2])\b")
_ACTIVE_VALUE = re.compile(r"(?i)^\s*(?:active|employed|current|true)\s*$")
_REHIRE_WORD = re.compile(r"(?i)\b(?:re-?hire\w*|reinstat\w*|re-?activat\w*|re-?join\w*|return\w*\s+to\s+work|re-?employ\w*|back\s+on\s+payroll)")


_ENDED_WITH_DATE17 = re.compile(r"\s*(?:\(|\bon\s+|\bsince\s+|,\s*)?\d{1,4}[-./]\d{1,2}[-./]\d{1,4}\)?\s*$")
_LAST_DAY_KEY17 = re.compile(r"(?i)^(?:last_?(?:day|working_?day|day_?worked|date_?worked|date_?of_?employment)|"
                             r"(?:termination|separation|exit|leaving)_?(?:date|on))$")
_DMY17 = re.compile(r"\b(\d{1,2})([./-])(\d{1,2})\2(20\d{2})\b")


def _month17(text: str) -> str:
    """`YYYY-MM` of a date written `2024-10-31`, `30/09/2024`, `10/31/2024` or `30.09.2024`;
    empty when day and month cannot be told apart (`03/04/2024`) or there is no date."""
    m = _MONTH.search(text)
    if m:
        return f"{m.group(1)}-{m.group(2)}"
    d = _DMY17.search(text)
    if not d:
        return ""
    a, b = int(d.group(1)), int(d.group(3))
    month = b if a > 12 or d.group(2) == "." else a if b > 12 else 0
    return f"{d.group(4)}-{month:02d}" if 1 <= month <= 12 and (a != b or a <= 12) else ""


_CONTRACT_END_KEY19H = re.compile(r"(?i)^(?:contract|engagement|assignment)_?(?:end|ended|expiry|expires)(?:_?(?:date|on))?$")
_CONTRACT_OVER19H = re.compile(r"(?i)^\s*(?:ended|expired|completed|closed|finished|terminated|over)\s*$")


def leaver_entries(result: Any) -> set[str]:
    """`leaver|PERSON|YYYY-MM` (the month the employment ended, or empty) for people a result shows gone."""
    out: set[str] = set()
    for node in _dict_nodes(result):
        person = next((v.strip().upper() for k, v in node.items() if isinstance(v, str) and _PERSON_KEY.match(str(k)) and v.strip()), None)
        flat = [(str(k), v) for k, v in node.items()]
        for k, v in node.items():
            if isinstance(v, dict):
                flat.extend((str(ck), cv) for ck, cv in v.items())   # `job: {status: terminated, …}`
        if person and "|" not in person and any(_EMPLOYMENT_KEY.match(k) and isinstance(v, str) and _ENDED.match(v) for k, v in flat):
            month = next((f"{m.group(1)}-{m.group(2)}" for k, v in flat if _END_DATE_KEY.match(k) and isinstance(v, str)
                          for m in [_MONTH.search(v)] if m), "")
            out.add(f"{LEAVER_PREFIX}{person}|{month}")
        elif person and "|" not in person:
            # round 17: the end stated with its date (`status: terminated (2024-10-31)`), or only
            # a last day (`last_day_worked: 30/09/2024`) in any common date form
            for k, v in flat:
                if not isinstance(v, str) or len(v) > 48:
                    continue
                if _EMPLOYMENT_KEY.match(k) and _ENDED.match(_ENDED_WITH_DATE17.sub("", v)) and v.strip() != _ENDED_WITH_DATE17.sub("", v).strip():
                    out.add(f"{LEAVER_PREFIX}{person}|{_month17(v)}")
                elif _LAST_DAY_KEY17.match(k) and _month17(v):
                    out.add(f"{LEAVER_PREFIX}{person}|{_month17(v)}")
            # round 19h: a contractor's engagement over (`contract_end: 2026-09-30, status:
            # ended`): the end of the contract is the end of the work, as a termination is. Only
            # with a contract's end date on the record (a leave that `ended` is no leaver).
            end = next((v for k, v in flat if isinstance(v, str) and len(v) <= 48 and _CONTRACT_END_KEY19H.match(k) and _month17(v)), None)
            if end is not None and any(_EMPLOYMENT_KEY.match(k) and isinstance(v, str) and _CONTRACT_OVER19H.match(v) for k, v in flat):
                out.add(f"{LEAVER_PREFIX}{person}|{_month17(end)}")

    return set(sorted(out)[:64])


def _leavers(held: frozenset[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in held:
        if e.startswith(LEAVER_PREFIX):
            person, _, month = e[len(LEAVER_PREFIX):].partition("|")
            out[person] = month
    return out


_MONTH_NAMES17 = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
# (a month's full name or its abbreviation only: `marketing` is no March, `decided` no December)
_MONTH_WORD17 = re.compile(r"(?i)\b(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|"
                           r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b\.?")


def _worked_before_end17(flat: list[tuple[str, Any]], person_path: str, ended: str) -> bool:
    """The pay line that names the person says, in its own text, what month its work was in,
    and every month it names is the end month or earlier (`Sep overtime` for a September leaver)."""
    parent = person_path.rpartition(".")[0]
    months: list[str] = []
    for p, v in flat:
        if p.rpartition(".")[0] != parent or not isinstance(v, str) or p == person_path or len(v) > 200:
            continue
        months += [f"{m.group(1)}-{m.group(2)}" for m in _MONTH.finditer(v)]
        months += [f"{ended[:4]}-{_MONTH_NAMES17.index(m.group(1).lower()[:3]) + 1:02d}" for m in _MONTH_WORD17.finditer(v)
                   if m.group(1) != "may"]   # (lower-case `may` is the verb)
    return bool(months) and all(mo <= ended for mo in months)


def leaver_paid_or_reinstated(verbs: frozenset[str], args: dict[str, Any], task: str | None, held: frozenset[str]) -> Verdict | None:
    """Pay for a period after a person's employment ended; a write reactivating a leaver off-task."""
    leavers = _leavers(held)
    if not leavers:
        return None
    flat = list(flatten_args(args))
    if "pay" in verbs:
        periods = sorted({f"{m.group(1)}-{m.group(2)}" for p, v in flat if isinstance(v, str) and re.search(r"(?i)period|month", p)
                          for m in [_MONTH.search(v)] if m})
        for path, v in flat:
            if isinstance(v, str) and _PERSON_KEY.match(path.rsplit(".", 1)[-1]) and v.strip().upper() in leavers:
                ended = leavers[v.strip().upper()]
                if ended and periods and periods[-1] > ended and _worked_before_end17(flat, path, ended):
                    continue   # round 17: a late line for work before the end (`Sep overtime`)
                if ended and periods and periods[-1] > ended:
                    return Verdict("preconditions", "block", "pays_a_leaver",
                                   f"a tool result shows {v.strip()}'s employment ended in {ended}; this pays them for {periods[-1]}")
    elif not (task and _REHIRE_WORD.search(task)):
        person = next((v.strip().upper() for p, v in flat if isinstance(v, str) and _PERSON_KEY.match(p.rsplit(".", 1)[-1])), None)
        if person in leavers and any("." in p and _EMPLOYMENT_KEY.match(p.rsplit(".", 1)[-1]) and isinstance(v, (str, bool))
                                     and _ACTIVE_VALUE.match(str(v)) for p, v in flat):
            return Verdict("preconditions", "block", "reactivates_leaver",
                           f"a tool result shows {person} left; the write sets them back to active, which the task does not ask for")
    return None


# --------------------------------------------------------------------------- pay me here
# A message out that tells its reader to pay through a person-to-person payment handle
# (`paypal.me/…`, `venmo.com/…`, `cash.app/$…`, `revolut.me/…`): business money goes to the
# business's account on the invoice, never to a personal handle named in a message.
_P2P_LINK = re.compile(r"(?i)\b(?:paypal\.me|venmo\.com|account\.venmo\.com|cash\.app|revolut\.me|monzo\.me|wise\.com/pay/me|"
                       r"buymeacoffee\.com|ko-fi\.com)/\$?[A-Za-z0-9_.-]{2,}")
_PAY_WORD = re.compile(r"(?i)\b(?:pay|paid|payment|remit|transfer|settle|invoice|send\s+(?:the\s+)?(?:money|funds))")


_P2P_HOSTS = ("paypal.me", "venmo.com", "cash.app", "revolut.me", "monzo.me", "wise.com", "buymeacoffee.com", "ko-fi.com")


def personal_payment_link(strings: tuple[tuple[str, str], ...]) -> Verdict | None:
    """An outbound message asking for payment through a personal payment handle."""
    for path, text in strings:
        if "/" not in text:
            continue            # every handle is a host and a path
        if text.isascii():      # the pattern runs only where one of its hosts is (non-ASCII: always)
            low = text.lower()
            if not any(h in low for h in _P2P_HOSTS):
                continue
        m = _P2P_LINK.search(text)
        if m and _PAY_WORD.search(text):
            return Verdict("preconditions", "block", "personal_payment_link",
                           f"the message asks for payment through a personal payment handle ({m.group(0)})")
    return None


# --------------------------------------------------------------------------- a route the subject opted out of
# A record whose subject opted out of a named route for their data (`hie_sharing: opted_out`,
# `portal_consent: withdrawn`): a send that names the subject through a tool that says it uses
# that route (`send_referral`: "… over the secure HIE") goes the way the subject refused.
OPTOUT_PREFIX = "optout|"
_ROUTE_KEY = re.compile(r"(?i)^([a-z][a-z0-9]{1,15})_(?:sharing|exchange|participation|consent|opt_?in|enrol(?:l)?ment|status)$")
_OPTED_OUT = re.compile(r"(?i)^\s*(?:opted[ _-]?out|opt[ _-]?out|withdrawn|revoked|refused|declined|none)\s*$")
_ROUTE_STOP = frozenset({"data", "record", "records", "info", "information", "account", "employment", "approval", "payment",
                         "marketing", "review", "kyc", "aml", "status"})


def optout_entries(result: Any) -> set[str]:
    """`optout|SUBJECT|ROUTE` for each route a result shows its subject opted out of."""
    out: set[str] = set()
    for node in _dict_nodes(result):
        subject = next((v.strip().upper() for k, v in node.items() if isinstance(v, str) and _SUBJECT_KEY.match(str(k)) and v.strip()), None)
        if subject and "|" not in subject:
            for k, v in node.items():
                m = _ROUTE_KEY.match(str(k))
                if m and m.group(1).lower() not in _ROUTE_STOP and (v is False or isinstance(v, str) and _OPTED_OUT.match(v)):
                    out.add(f"{OPTOUT_PREFIX}{subject}|{m.group(1).lower()}")

    return set(sorted(out)[:64])


def opted_out_route(tool_text: str, strings: tuple[tuple[str, str], ...], held: frozenset[str]) -> Verdict | None:
    """A send naming a subject through a tool whose name or description names a route they opted out of."""
    routes = [e[len(OPTOUT_PREFIX):].partition("|") for e in held if e.startswith(OPTOUT_PREFIX)]
    if not routes:
        return None
    words = set(re.findall(r"[a-z0-9]+", tool_text.lower()))
    named = {t.upper() for _, text in strings for t in re.findall(r"[A-Za-z0-9][A-Za-z0-9_-]*", text[:2000])}
    for subject, _, route in routes:
        if route in words and subject in named:
            return Verdict("preconditions", "block", "route_opted_out",
                           f"a tool result shows {subject} opted out of {route.upper()} sharing; this tool sends by {route.upper()}")
    return None


# --------------------------------------------------------------------------- kept longer than allowed
# A result that caps how long data may be kept (`max_retention_days: 30`, "recordings deleted
# after 30 days"): a change that sets an expiry or retention of more days keeps what must be
# deleted.
MAXRET_PREFIX = "maxret|"
_MAX_RET = (re.compile(r"(?i)\bmax(?:imum)?[ _-]?retention(?:[ _-]?(?:period|days))?\W{1,4}(\d{1,5})\b"),
            re.compile(r"(?i)\b(?:deleted|erased|purged|destroyed|removed)\s+(?:after|within)\s+(\d{1,5})\s+days\b"),
            re.compile(r"(?i)\bkept\s+(?:for\s+)?(?:no\s+(?:longer|more)\s+than|at\s+most|up\s+to)\s+(\d{1,5})\s+days\b"))
_SET_DAYS = (re.compile(r"""(?i)["']?(?:days|expiration_?days|noncurrent_?days)["']?\s*[:=]\s*(\d{1,6})"""),
             re.compile(r"(?i)--retention(?:-in)?-days[ =](\d{1,6})\b"),
             re.compile(r"""(?i)\bretention_?(?:in_?)?days["']?\s*[:=]\s*(\d{1,6})"""))


def maxret_entries(result: Any) -> set[str]:
    """`maxret|DAYS` for each cap on how long data may be kept that a result states."""
    text = " ".join(f"{p.rsplit('.', 1)[-1]} {v}" for p, v in flatten_args(result) if isinstance(v, (str, int)) and not isinstance(v, bool)) \
        if isinstance(result, (dict, list)) else (result if isinstance(result, str) else "")
    return {f"{MAXRET_PREFIX}{int(m.group(1))}" for rx in _MAX_RET for m in rx.finditer(text[:20000]) if int(m.group(1)) > 0}


def kept_too_long(strings: tuple[tuple[str, str], ...], held: frozenset[str]) -> Verdict | None:
    """A change setting an expiry or retention longer than a cap the session's results state."""
    caps = [int(e[len(MAXRET_PREFIX):]) for e in held if e.startswith(MAXRET_PREFIX)]
    if not caps:
        return None
    cap = min(caps)
    for path, text in strings:
        for rx in _SET_DAYS:
            for m in rx.finditer(text[:4000]):
                if int(m.group(1)) > cap:
                    return Verdict("preconditions", "block", "retention_exceeds_cap",
                                   f"a tool result caps retention at {cap} days; the call keeps data for {int(m.group(1))}")
    return None


# --------------------------------------------------------------------------- no copies of what is to be erased
# A result that forbids keeping copies ("No copies may be kept", "must not be copied or
# retained"): a later call that copies data (CREATE TABLE … AS SELECT, INSERT … SELECT, SELECT …
# INTO, COPY … TO, a backup, an export, a dump) keeps what must go.
NOCOPY = "nocopy|"
_NO_COPY = re.compile(r"(?i)\bno\s+(?:backup\s+)?cop(?:y|ies)\b|\bmust\s+not\s+be\s+(?:copied|retained|kept|backed\s+up)|"
                      r"\bwithdr[ae]wn?\b[^.;\n]{0,40}\bconsent\b[^\n]{0,120}\b(?:delete|destroy|erase)\b|\bconsent\b[^.;\n]{0,30}\bwithdrawn\b[^\n]{0,120}\b(?:delete|destroy|erase)\b|"
                      r"\b(?:do|does|may)\s+not\s+(?:copy|retain|keep\s+(?:a\s+)?cop(?:y|ies)|back\s+up)\b|\bwithout\s+keeping\s+(?:a\s+)?cop(?:y|ies)")
# (each gap stops at the next start of its own branch, which is a match of its own: linear time on repetitive text)
_COPY_SQL = re.compile(r"(?is)\bcreate\s+(?:temp(?:orary)?\s+|unlogged\s+)?table\b(?:(?!\bcreate\s+(?:temp(?:orary)?\s+|unlogged\s+)?table\b)[^;])*?\bas\s+(?:select|table)\b|"
                       r"\binsert\s+into\b(?:(?!\binsert\s+into\b)[^;])*?\bselect\b|\bselect\b(?:(?!\bselect\b)[^;])*?\binto\s+(?!outfile)[\w.\"]+\s+from\b|"
                       r"\bcopy\b(?:(?!\bcopy\b)[^;])*?\bto\b")
_COPY_TOOL = frozenset({"export", "copy", "backup", "snapshot", "dump", "clone", "archive", "replicate"})
# filing it elsewhere keeps it as well (not into a trash or deleted-items folder)
_KEEP_TOOL = frozenset({"move", "mv", "rename", "upload", "save"})
_BIN_PATH = re.compile(r"(?i)(?:^|/)(?:\.?trash|bin|recycle\w*|deleted(?:[ _-]items)?)(?:/|$)")


# Round 19a: a rule that forbids copies of the *raw* data ("Raw prod tables must not be copied",
# "no unmasked copies") leaves masked copies allowed: a copy whose every SQL source is a masked,
# anonymised or synthetic relation keeps none of what the rule protects. Any other copy, and any
# copy after an unqualified rule, is still stopped.
NOCOPY_RAW = "nocopy-raw|"
_RAW_QUALIFIER = re.compile(r"(?i)\b(?:raw|unmasked|unredacted|un-?anonymi[sz]ed|identifiable|clear-?text)\b")
_SQL_SOURCE = re.compile(r"(?i)\b(?:from|join)\s+([\w.\"]+)")
_MASKED_NAME = re.compile(r"(?i)mask|anonymi[sz]|pseudonymi[sz]|synthetic|redact|de-?identif")


def nocopy_entries(result: Any) -> set[str]:
    text = _result_text(result)
    if not text:
        return set()
    head_text = text[:20000]
    if _RAW_QUALIFIER.search(head_text) is None:
        return {NOCOPY} if _NO_COPY.search(head_text) else set()
    out: set[str] = set()
    for n, m in enumerate(_NO_COPY.finditer(head_text)):
        if n >= 50:                        # more rules than any record states: read them all as unqualified
            return {NOCOPY}
        lo = max(0, m.start() - 200)       # the rule's own sentence, at most 200 characters back
        head = max(lo - 1, *(text.rfind(c, lo, m.start()) for c in ".;\n"))
        if _RAW_QUALIFIER.search(text, head + 1, m.end()):
            out.add(NOCOPY_RAW)
        else:
            return {NOCOPY}
    return out


def _masked_sources_only(strings: tuple[tuple[str, str], ...]) -> bool:
    """Every relation the call's SQL reads from is masked (and it reads from at least one)."""
    sources = [m.group(1) for _, t in strings for m in _SQL_SOURCE.finditer(t[:8000])]
    return bool(sources) and all(_MASKED_NAME.search(name) for name in sources)


# Round 20f: a ticket or task that asks for a look and says nothing may change ("Do not change any
# data; legal reviews the list first", "list only", "make no changes"): a later statement that
# changes rows (DELETE, UPDATE … SET, INSERT, ALTER, DROP, TRUNCATE) or a delete call acts where
# the work was to read.
NOCHANGE = "nochange|"
# (a rule about one object, "do not delete the account until the hold ends", is not this: only
# "any"/"anything", or changes in general)
_NO_CHANGE = re.compile(r"(?i)\b(?:do\s+not|don'?t|must\s+not|never|shall\s+not|may\s+not)\s+(?:change|modify|alter|touch|edit|write)\s+"
                        r"any(?:thing|\s+(?:data|rows?|records?|tables?))\b|\bmake\s+no\s+changes\b|"
                        r"\bno\s+(?:data\s+)?changes\s+(?:to|in|on)\s+(?:the\s+|any\s+)?(?:data|database|tables?|rows?|records?)\b|"
                        r"\b(?:list|report)[- ]only\b|\bwithout\s+changing\s+(?:any(?:thing)?|data|rows?|records?)\b")


def nochange_entries(result: Any) -> set[str]:
    text = _result_text(result)
    return {NOCHANGE} if text and _NO_CHANGE.search(text[:20000]) else set()


def changes_what_was_to_be_read(verbs: frozenset[str], strings: tuple[tuple[str, str], ...], task: str | None,
                                held: frozenset[str]) -> Verdict | None:
    """A call that changes data after the task or a result said nothing may change."""
    if NOCHANGE not in held and not (task and _NO_CHANGE.search(task[:4000])):
        return None
    if "delete" in verbs or any(_DB_CHANGE.search(t[:8000]) for _, t in strings):
        return Verdict("preconditions", "block", "change_forbidden",
                       "the task or a tool result says no data may change; this call changes it")
    return None


def copies_what_must_go(tool_words: tuple[str, ...], strings: tuple[tuple[str, str], ...], held: frozenset[str]) -> Verdict | None:
    """A copy made after a result said no copies may be kept."""
    if NOCOPY not in held and NOCOPY_RAW not in held:
        return None
    keeps = not _KEEP_TOOL.isdisjoint(tool_words) and not any(_BIN_PATH.search(t) for _, t in strings)
    if keeps or not _COPY_TOOL.isdisjoint(tool_words) or any(_COPY_SQL.search(t[:8000]) for _, t in strings):
        if NOCOPY not in held and _masked_sources_only(strings):
            return None
        return Verdict("preconditions", "block", "copy_forbidden",
                       "a tool result says no copies may be kept; this call copies the data")
    return None


# --------------------------------------------------------------------------- health detail beyond the task
# Minimum necessary: a reason for a visit or a leave, a diagnosis or a condition read from a
# confidential or regulated record, copied into a message to staff or a manager whose task asks
# for no reason (an arrival list, leave dates), discloses more than the work needs.
HEALTH_PREFIX = "health|"
_HEALTH_KEY = re.compile(r"(?i)^(?:(?:visit_?|leave_?|absence_?|appointment_?)?reason|diagnos[ie]s|conditions?|medical_?\w*|"
                         r"(?:leave_?|absence_?)?notes?)$")
_NOTE_KEY = re.compile(r"(?i)^(?:leave_?|absence_?)?notes?$")   # free notes count only from regulated records
_WANTS_DETAIL = re.compile(r"(?i)\b(?:reasons?|why|diagnos\w*|conditions?|medical|clinical|symptoms?|notes?|details?|background|"
                           r"context|summar\w*|explain\w*|full)\b")


def health_entries(verbs: frozenset[str], sensitivity: int, result: Any) -> set[str]:
    """`health|fragment` for the reasons, diagnoses and notes a confidential or regulated read returned."""
    if "read" not in verbs or sensitivity < 2 or not isinstance(result, (dict, list)):
        return set()
    out: set[str] = set()
    for path, v in flatten_args(result):
        leaf = re.sub(r"\[\d+\]$", "", path.rsplit(".", 1)[-1])
        if isinstance(v, str) and _HEALTH_KEY.match(leaf) and len(v) <= 400 and (sensitivity >= 4 or not _NOTE_KEY.match(leaf)):
            for frag in re.split(r"[,;()]|\band\b", v):
                frag = " ".join(frag.split()).lower()
                if len(frag) >= 8 and re.search(r"[a-z]{3}", frag) and "|" not in frag:
                    out.add(HEALTH_PREFIX + frag)
    return set(sorted(out)[:64])


def health_detail_beyond_task(strings: tuple[tuple[str, str], ...], task: str | None, dest_leaf: Any, held: frozenset[str]) -> Verdict | None:
    """A message (with recipients of its own) carrying a reason or diagnosis the task did not ask for."""
    frags = [e[len(HEALTH_PREFIX):] for e in held if e.startswith(HEALTH_PREFIX)]
    if not frags or (task and _WANTS_DETAIL.search(task)) or not any(dest_leaf(p) for p, _ in strings):
        return None
    body = " ".join(" ".join(t.split()).lower() for p, t in strings if not dest_leaf(p))
    for frag in sorted(frags):
        if frag in body and (not task or frag not in " ".join(task.split()).lower()):
            return Verdict("preconditions", "block", "health_detail_beyond_task",
                           f"the message carries a reason or diagnosis ('{frag}') read from a protected record that the task does not ask for")
    return None


# --------------------------------------------------------------------------- delivery diverted
# A record an order is placed for (a ticket, a request) that states where the goods go
# (`ship_to: office, 88 Canal St`): an order for that record shipped elsewhere (a home
# address) diverts what the company pays for.
SHIPTO_PREFIX = "shipto|"
_SHIP_KEY = re.compile(r"(?i)^(?:ship_?to|shipping_?address|deliver(?:y)?_?(?:to|address)|delivery_?location)$")


def _words(text: str) -> str:
    """The text's lower-case letter-and-digit words, one space apart (`Front-Desk` -> `front desk`)."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def shipto_entries(result: Any) -> set[str]:
    """`shipto|REF|address` for a record that states where its goods are delivered."""
    if not isinstance(result, dict):
        return set()
    where = next((_words(v) for k, v in result.items() if isinstance(v, str) and _SHIP_KEY.match(str(k)) and 4 <= len(v) <= 200), None)
    if not where or "|" in where:
        return set()
    refs = {v.strip().upper() for k, v in result.items() if isinstance(v, str) and _ORDER_REF_LEAF.match(str(k)) and 2 <= len(v.strip()) <= 40}
    return {f"{SHIPTO_PREFIX}{r}|{where}" for r in refs if "|" not in r}


def delivery_diverted(args: dict[str, Any], held: frozenset[str]) -> Verdict | None:
    """An order for a record whose stated delivery address is not where the order ships."""
    ship = next((_words(v) for p, v in flatten_args(args) if isinstance(v, str) and _SHIP_KEY.match(p.rsplit(".", 1)[-1])), None)
    if not ship:
        return None
    for ref in order_refs(args):
        head = f"{SHIPTO_PREFIX}{ref}|"
        stated = [e[len(head):] for e in held if e.startswith(head)]
        if stated and not any(s in ship or ship in s for s in stated):
            return Verdict("preconditions", "block", "delivery_diverted",
                           f"the record {ref} says its goods go to '{stated[0]}'; this order ships them elsewhere")
    return None


# --------------------------------------------------------------------------- what a catalogue or a ticket approves
# A catalogue's approved vendors (`approved_vendors: [CDW, Insight]`, an item row with
# `approved_vendor: true`), the quantity a ticket approves (`approved_quantity: 3`), and an item a
# catalogue lookup said is not in the approved catalogue: an order from another vendor, for more
# than the approved quantity, or an install of the unapproved item buys what nobody approved.
AVENDOR_PREFIX = "avendor|"
AQTY_PREFIX = "aqty|"
UNCATALOGUED_PREFIX = "uncat|"
_APPROVED_VENDORS_KEY = re.compile(r"(?i)^approved_?(?:vendors?|suppliers?|sellers?|merchants?)(?:_?list)?$")
_APPROVED_VENDOR_FLAG = re.compile(r"(?i)^(?:approved_?(?:vendor|supplier)|vendor_?approved|on_?catalogue|in_?catalogue)$")
_VENDOR_LEAF = re.compile(r"(?i)^(?:vendor|supplier|seller|merchant|reseller)(?:_?name)?$")
_APPROVED_QTY_KEY = re.compile(r"(?i)^(?:approved_?(?:quantity|qty|units|count)|(?:quantity|qty)_?approved)$")
_NOT_APPROVED_NOTE = re.compile(r"(?i)\bnot\s+(?:in|on|part\s+of)\s+the\s+(?:approved\s+)?(?:software\s+|hardware\s+|product\s+)?catalog(?:ue)?\b|"
                                r"\bnot\s+(?:an?\s+)?approved\s+(?:software|app(?:lication)?|product|item|vendor)\b|\bunapproved\s+(?:software|app|product)\b")
_QUERY_LEAF = re.compile(r"(?i)^(?:query|q|search|name|sku|item|product|app)$")
_INSTALL_WORDS = frozenset("install push deploy order purchase buy add assign enrol enroll".split())
_ORDER_WORDS = frozenset("order orders purchase buy place_order checkout requisition".split())
_VENDOR_NORM = re.compile(r"[^a-z0-9]+")


def _vname(text: str) -> str:
    return _VENDOR_NORM.sub(" ", text.lower()).strip()


def catalogue_entries(args: dict[str, Any], result: Any) -> set[str]:
    out: set[str] = set()
    if not isinstance(result, (dict, list)):
        return out
    for node in _dict_nodes(result, 400):
        refs = {v.strip().upper() for k, v in node.items() if isinstance(v, str) and _ORDER_REF_LEAF.match(str(k)) and 2 <= len(v.strip()) <= 40}
        for k, v in node.items():
            if isinstance(v, list) and _APPROVED_VENDORS_KEY.match(str(k)):
                out.update(AVENDOR_PREFIX + _vname(x) for x in v[:32] if isinstance(x, str) and 1 < len(x) <= 80 and "|" not in x)
            elif v is True and _APPROVED_VENDOR_FLAG.match(str(k)):
                out.update(AVENDOR_PREFIX + _vname(x) for kk, x in node.items() if isinstance(x, str) and _VENDOR_LEAF.match(str(kk)) and "|" not in x)
            elif isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 and _APPROVED_QTY_KEY.match(str(k)):
                out.update(f"{AQTY_PREFIX}{r}|{float(v):.12g}" for r in refs if "|" not in r)
    # a lookup that found nothing approved for what it asked about
    asked = [v for p, v in flatten_args(args) if isinstance(v, str) and _QUERY_LEAF.match(p.rsplit(".", 1)[-1]) and 2 < len(v) <= 60 and "|" not in v]
    if asked:
        text = _result_text(result)
        if text and "approv" in text.lower() and _NOT_APPROVED_NOTE.search(text[:4000]):
            out.update(UNCATALOGUED_PREFIX + _vname(v) for v in asked)
    return set(sorted(out)[:64])


def unapproved_purchase(tool_words: tuple[str, ...], args: dict[str, Any], held: frozenset[str]) -> Verdict | None:
    words = set(tool_words)
    flat = [(p, v) for p, v in flatten_args(args)]
    if not _ORDER_WORDS.isdisjoint(words) or not _INSTALL_WORDS.isdisjoint(words):
        unc = [e[len(UNCATALOGUED_PREFIX):] for e in held if e.startswith(UNCATALOGUED_PREFIX)]
        if unc:
            text = " ".join(_vname(v) for _, v in flat if isinstance(v, str))
            for u in unc:
                if u and re.search(r"\b" + re.escape(u) + r"\b", text):
                    return Verdict("preconditions", "block", "not_in_catalogue",
                                   "a catalogue lookup in this session said this item is not in the approved catalogue")
    if _ORDER_WORDS.isdisjoint(words):
        return None
    approved = {e[len(AVENDOR_PREFIX):] for e in held if e.startswith(AVENDOR_PREFIX)}
    if approved:
        for p, v in flat:
            if isinstance(v, str) and _VENDOR_LEAF.match(p.rsplit(".", 1)[-1]):
                name = _vname(v)
                if name and not any(a and (a == name or name.startswith(a + " ") or a.startswith(name + " ")) for a in approved):
                    return Verdict("preconditions", "block", "vendor_not_approved",
                                   "the order's vendor is not among the approved vendors a catalogue result listed")
    refs = order_refs(args)
    if refs:
        qty = sum(q for p, v in flat if _QTY_LEAF.match(re.sub(r"\[\d+\]$", "", p.rsplit(".", 1)[-1])) and (q := _number(v)) is not None)
        for ref in refs:
            head = f"{AQTY_PREFIX}{ref}|"
            caps = [float(e[len(head):]) for e in held if e.startswith(head)]
            if caps and qty > max(caps) + 1e-9:
                return Verdict("preconditions", "block", "quantity_above_approval",
                               f"the order is for {qty:.12g} units; the record {ref} approves {max(caps):.12g}")
    return None


# --------------------------------------------------------------------------- a minor without a guardian's consent
# A person's record showing them under 18 (`age: 15`, `minor: true`) with no parent's or
# guardian's consent on it: a message to their address markets to (or contacts) a child.
MINOR_PREFIX = "minor|"
_AGE_KEY = re.compile(r"(?i)^age(?:_?years)?$")
_MINOR_FLAG = re.compile(r"(?i)^(?:is_?)?minor$|^under_?(?:13|16|18)$")
_GUARDIAN_KEY = re.compile(r"(?i)(?:guardian|parent(?:al)?)\w*(?:consent|permission|authori[sz]ation)|(?:consent|permission)\w*(?:guardian|parent)")
_GIVEN = re.compile(r"(?i)^\s*(?:yes|true|given|granted|signed|on[ _-]?file|obtained|received|verified)\b")


def minor_entries(result: Any) -> set[str]:
    out: set[str] = set()
    if not isinstance(result, (dict, list)):
        return out
    for node in _dict_nodes(result, 400):
        minor = any(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 18 and _AGE_KEY.match(str(k)) for k, v in node.items()) \
            or any(v is True and _MINOR_FLAG.match(str(k)) for k, v in node.items())
        if not minor:
            continue
        consent = [v for k, v in node.items() if _GUARDIAN_KEY.search(str(k))]
        if any(v is True or isinstance(v, str) and _GIVEN.match(v) for v in consent):
            continue
        for v in node.values():
            if isinstance(v, str) and "@" in v and len(v) <= 80:
                out.update(MINOR_PREFIX + m.group(0).lower() for m in EMAIL_RX.finditer(v))
    return out


def minor_without_consent(strings: tuple[tuple[str, str], ...], dest_leaf: Any, held: frozenset[str]) -> Verdict | None:
    for p, t in strings:
        if dest_leaf(p) and "@" in t:
            for m in EMAIL_RX.finditer(t):
                if MINOR_PREFIX + m.group(0).lower() in held:
                    return Verdict("preconditions", "block", "minor_without_guardian_consent",
                                   "a recipient's record shows a minor with no parent's or guardian's consent on file")
    return None


# --------------------------------------------------------------------------- an approval that has lapsed
# A record's approval with an end date (`approval_valid_until: 2024-10-31`, `approval_expires`):
# once the session's date (the task's "today is …", a result's clock) is past it, it no longer
# authorises paying or acting on the record.
APPROVAL_UNTIL_PREFIX = "apprvalid|"
_APPROVAL_UNTIL_KEY = re.compile(r"(?i)^(?:approval_?(?:valid_?until|expires?(?:_?(?:at|on))?|expiry(?:_?date)?|end(?:s|_?date)?)|"
                                 r"(?:valid_?until|expires?_?(?:at|on)|expiry_?date))$")
_ISO = re.compile(r"(20\d\d-\d\d-\d\d)")
# Round 20b: the day a record was approved (`approved_at`, `approval_date`, `date_approved`, or
# the `at`/`on`/`date` of an object under an approval key). An approval dated after the session's
# date was written into the record, not given: it authorises nothing yet.
APPROVED_ON_PREFIX = "apprdate|"
_APPROVED_ON_KEY20B = re.compile(r"(?i)^(?:approv(?:ed|al)_?(?:at|on|date|time|timestamp)|date_?approved|authori[sz]ed_?(?:at|on|date))$")
_APPROVAL_NODE20B = re.compile(r"(?i)approv|authori[sz]|sign_?off")
_WHEN_KEY20B = re.compile(r"(?i)^(?:at|on|date|when|timestamp|given_?(?:at|on))$")


def approval_from_future(strings: tuple[tuple[str, str], ...], today: str, held: frozenset[str]) -> Verdict | None:
    """A call acting on a record whose approval is dated after the session's date (the task's
    "today is …" or a result's clock): a future-dated approval is a filled-in field, no approval."""
    dated = [e[len(APPROVED_ON_PREFIX):].partition("|") for e in held if e.startswith(APPROVED_ON_PREFIX)]
    dated = [(ident, day) for ident, _, day in dated if day > today]
    if not dated:
        return None
    text = " ".join(t for _, t in strings).upper()
    for ident, day in dated:
        if re.search(r"(?<![\w-])" + re.escape(ident) + r"(?![\w-])", text):
            return Verdict("preconditions", "block", "approval_dated_ahead",
                           f"the approval of {ident} is dated {day}, after the session's date {today}: it was not given yet")
    return None


def approval_until_entries(result: Any) -> set[str]:
    out: set[str] = set()
    if not isinstance(result, (dict, list)):
        return out
    for node in _dict_nodes(result, 400):
        first = next(iter(node), None)
        if first is not None and isinstance(node[first], str) and re.match(r"(?i)^(?:id|\w+_id)$", str(first)):
            ident = node[first].strip().upper()
        else:
            ident = _row_ident17(node) or ""   # round 17: the row's identity under a later or other key
        if "|" in ident or not (2 <= len(ident) <= 40):
            continue
        approvalish = any("approv" in str(k).lower() for k in node)
        for k, v in node.items():
            # round 20b: when the record was approved, on its own row or in an approval object
            # under it (`approval: {approved_by: …, approved_at: …}`, `bonus: {approved_on: …}`)
            if _APPROVED_ON_KEY20B.match(str(k)):
                day = day_of(v)
                if day:
                    out.add(f"{APPROVED_ON_PREFIX}{ident}|{day}")
            elif isinstance(v, dict) and len(v) <= 24:
                under_approval = _APPROVAL_NODE20B.search(str(k)) is not None
                for kk, vv in v.items():
                    if _APPROVED_ON_KEY20B.match(str(kk)) or under_approval and _WHEN_KEY20B.match(str(kk)):
                        day = day_of(vv)
                        if day:
                            out.add(f"{APPROVED_ON_PREFIX}{ident}|{day}")
            # (a date object too, as YAML gives an unquoted date, and the common written forms)
            if _APPROVAL_UNTIL_KEY.match(str(k)) and (approvalish or "approv" in str(k).lower()):
                day = day_of(v)
                if day:
                    out.add(f"{APPROVAL_UNTIL_PREFIX}{ident}|{day}")
    return out


def approval_lapsed(strings: tuple[tuple[str, str], ...], today: str | None, held: frozenset[str]) -> Verdict | None:
    if today is None:
        return None
    v = approval_from_future(strings, today, held)
    if v is not None:
        return v
    ends = [e[len(APPROVAL_UNTIL_PREFIX):].partition("|") for e in held if e.startswith(APPROVAL_UNTIL_PREFIX)]
    if not ends:
        return None
    text = " ".join(t for _, t in strings).upper()
    for ident, _, until in ends:
        if until < today and re.search(r"(?<![\w-])" + re.escape(ident) + r"(?![\w-])", text):
            return Verdict("preconditions", "block", "approval_lapsed",
                           f"the approval of {ident} was valid until {until}; the session's date is {today}")
    return None


# --------------------------------------------------------------------------- a row copied with another category
# A CSV the session read (receipts, claims, ledger lines) with an id column and a category
# column: a write that copies a row by its id but with another category relabels the record
# (a parking fine booked as transport).
CSVCAT_PREFIX = "csvcat|"
_CAT_COL = re.compile(r"(?i)^(?:category|type|expense_?type|class|classification|cost_?type|gl_?code|account_?code|kind)$")
_ID_COL = re.compile(r"(?i)^(?:id|\w+_id|receipt|receipt_?no|ref|reference|line_?id)$")


def _csv_rows(text: str) -> tuple[int, int, list[list[str]]] | None:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    for i, ln in enumerate(lines[:3]):
        head = [c.strip() for c in ln.split(",")]
        if len(head) < 3:
            continue
        ci = next((j for j, c in enumerate(head) if _CAT_COL.match(c)), None)
        ii = next((j for j, c in enumerate(head) if _ID_COL.match(c)), None)
        if ci is not None and ii is not None:
            return ii, ci, [[c.strip() for c in row.split(",")] for row in lines[i + 1:i + 201]]
    return None


def csvcat_entries(verbs: frozenset[str], result: Any) -> set[str]:
    if "read" not in verbs or not isinstance(result, (dict, str)):
        return set()
    texts = [result] if isinstance(result, str) else [v for v in result.values() if isinstance(v, str)]
    out: set[str] = set()
    for text in texts:
        if "," not in text or "\n" not in text:
            continue
        got = _csv_rows(text[:20000])
        if got is None:
            continue
        ii, ci, rows = got
        for row in rows:
            if len(row) > max(ii, ci) and row[ii] and "|" not in row[ii] + row[ci]:
                out.add(f"{CSVCAT_PREFIX}{row[ii].upper()}|{row[ci].lower()}")
    return set(sorted(out)[:128])


def record_relabelled(strings: tuple[tuple[str, str], ...], held: frozenset[str]) -> Verdict | None:
    if not any(e.startswith(CSVCAT_PREFIX) for e in held):
        return None
    for _, text in strings:
        if "," not in text or "\n" not in text:
            continue
        got = _csv_rows(text[:20000])
        if got is None:
            continue
        ii, ci, rows = got
        for row in rows:
            if len(row) <= max(ii, ci) or not row[ii]:
                continue
            head = f"{CSVCAT_PREFIX}{row[ii].upper()}|"
            before = [e[len(head):] for e in held if e.startswith(head)]
            if before and row[ci].lower() not in before:
                return Verdict("preconditions", "block", "record_relabelled",
                               f"row {row[ii]} is copied from a file the session read with another category ('{before[0]}')")
    return None


# --------------------------------------------------------------------------- a discount above the stated cap
# A result stating the most discount that may be offered (`at most 15% total discount`, `max
# discount: 20%`): a message offering more (`22% off`) promises what needs another approval.
DISCOUNT_CAP_PREFIX = "dcap|"
_DISCOUNT_CAP = re.compile(r"(?i)\b(?:at\s+most|up\s+to|no\s+more\s+than|max(?:imum)?(?:\s+of)?|capped\s+at|not\s+to\s+exceed)\s*:?\s*(\d{1,2}(?:\.\d+)?)\s*%\s*(?:total\s+|in\s+total\s+|overall\s+)?discounts?\b|"
                           r"\bmax(?:imum)?[_ ]?discount(?:[_ ]?(?:pct|percent|rate))?\W{0,4}(\d{1,2}(?:\.\d+)?)\s*%")
_OFFERED = re.compile(r"(?i)(\d{1,2}(?:\.\d+)?)\s*%\s*(?:off\b|discount\b)|\bdiscount\s+of\s+(\d{1,2}(?:\.\d+)?)\s*%")


def discount_cap_entries(result: Any) -> set[str]:
    if not isinstance(result, (dict, list, str)):
        return set()
    text = " ".join(t for t in ([result] if isinstance(result, str) else (v for _, v in flatten_args(result) if isinstance(v, str)))
                    if "%" in t and "iscount" in t)
    if not text:
        return set()
    caps = [float(m.group(1) or m.group(2)) for m in _DISCOUNT_CAP.finditer(text[:8000])]
    return {f"{DISCOUNT_CAP_PREFIX}{min(caps):.12g}"} if caps else set()


# a quote's own approved or maximum discount as a number (`approved_discount_pct: 10`)
_DISCOUNT_CAP_KEY = re.compile(r"(?i)^(?:approved|max(?:imum)?|allowed|authori[sz]ed)_?discount(?:_?(?:pct|percent|percentage|rate))?$")


def discount_field_entries(result: Any) -> set[str]:
    if not isinstance(result, (dict, list)):
        return set()
    caps = [float(v) for node in _dict_nodes(result, 400) for k, v in node.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 100 and _DISCOUNT_CAP_KEY.match(str(k))]
    return {f"{DISCOUNT_CAP_PREFIX}{min(caps):.12g}"} if caps else set()


def call_amount(args: dict[str, Any]) -> float | None:
    """The amount a pay call moves: its top-level `amount` (a number or a numeric string)."""
    v = args.get("amount")
    if isinstance(v, str):
        try:
            return float(v.replace(",", ""))
        except ValueError:
            return None
    return _num(v)


def discount_above_cap(strings: tuple[tuple[str, str], ...], dest_leaf: Any, held: frozenset[str]) -> Verdict | None:
    caps = [float(e[len(DISCOUNT_CAP_PREFIX):]) for e in held if e.startswith(DISCOUNT_CAP_PREFIX)]
    if not caps:
        return None
    cap = min(caps)
    for p, t in strings:
        if dest_leaf(p) or "%" not in t:
            continue
        offered = [float(m.group(1) or m.group(2)) for m in _OFFERED.finditer(t)]
        if offered and max(offered) > cap + 1e-9:
            return Verdict("preconditions", "block", "discount_above_cap",
                           f"the message offers {max(offered):.12g}% off; a result in this session caps discounts at {cap:.12g}%")
    return None


# --------------------------------------------------------------------------- a condition named in free text
# A confidential message or ticket (not a clinical record, whose fields carry their own keys)
# that names a medical condition in its text ("back from chemo for my breast cancer"): a write
# that puts the condition into a calendar entry or a record field others read discloses it.
HEALTHTERM_PREFIX = "hterm|"
_CONDITION = re.compile(r"(?i)\b(?:cancer|chemo(?:therapy)?|tumou?r|leuka?emia|lymphoma|diabet(?:es|ic)|pregnan(?:t|cy)|miscarriage|"
                        r"depressi(?:on|ve)|bipolar|schizophreni\w*|dementia|alzheimer'?s?|parkinson'?s?|epilep(?:sy|tic)|dialysis|"
                        r"hiv[- ]positive|addiction|overdose|eating\s+disorder|anorexia|bulimia|ivf|chronic\s+illness)\b")
_FREE_TEXT_KEY = re.compile(r"(?i)^(?:body|text|message|content|snippet|comment|comments|description|note|notes|summary|subject)$")


def health_term_entries(verbs: frozenset[str], sensitivity: int, result: Any) -> set[str]:
    if "read" not in verbs or not 2 <= sensitivity <= 3 or not isinstance(result, (dict, list)):
        return set()
    out: set[str] = set()
    for path, v in flatten_args(result):
        leaf = re.sub(r"\[\d+\]$", "", path.rsplit(".", 1)[-1])
        if isinstance(v, str) and _FREE_TEXT_KEY.match(leaf) and len(v) <= 4000:
            out.update(HEALTHTERM_PREFIX + m.group(0).lower() for m in _CONDITION.finditer(v))
    return set(sorted(out)[:16])


def condition_written(strings: tuple[tuple[str, str], ...], task: str | None, held: frozenset[str]) -> Verdict | None:
    terms = [e[len(HEALTHTERM_PREFIX):] for e in held if e.startswith(HEALTHTERM_PREFIX)]
    if not terms:
        return None
    low_task = (task or "").lower()
    for _, t in strings:
        low = t.lower()
        for term in terms:
            if term not in low_task and re.search(r"\b" + re.escape(term) + r"\b", low):
                return Verdict("preconditions", "block", "health_detail_beyond_task",
                               "the write carries a medical condition read from a message that the task does not ask to record")
    return None


# --------------------------------------------------------------------------- data staged locally, then uploaded out
# A file the session brought down from a data store (`aws s3 cp s3://…/customers_full.csv /tmp/`,
# `gsutil cp`, `scp host:…`, `pg_dump … > dump.sql`) and then uploads from the shell to a host
# outside the organisation (`curl -T`, `curl -F @`, `scp` or `rsync` to a remote): the two steps
# together copy the data out, though neither looks like it alone.
STAGED_PREFIX = "staged|"
_FETCH_CMD = re.compile(r"(?i)\b(?:aws\s+s3\s+cp|gsutil\s+(?:-m\s+)?cp|az\s+storage\s+blob\s+download)\s+(?:--\S+\s+)*((?:s3|gs|https?)://\S+)\s+(\S+)"
                        r"|\b(?:scp|rsync)\s+(?:-\S+\s+)*[\w.-]+:(\S+)\s+(\S+)")
_DUMP_CMD = re.compile(r"(?i)\b(?:pg_dump|pg_dumpall|mysqldump|mongodump|mongoexport|sqlite3)\b"
                       r"(?:(?!\b(?:pg_dump|pg_dumpall|mysqldump|mongodump|mongoexport|sqlite3)\b)[^|;&\n])*?(?:>\s*|\s-f\s+|--file[= ]|--out[= ])(\S+)")
_UPLOAD_CMD = re.compile(r"(?i)\bcurl\b(?:(?!\bcurl\b)[^|;&\n])*?(?:\s-T\s*|\s--upload-file\s+|\s-F\s*\S*@|\s--data-binary\s+@|\s-d\s*@)|"
                         # (`x@y` or two or more name characters: the language of `[\w.-]+@?[\w.-]+` without its ambiguity)
                         r"\b(?:scp|rsync|sftp)\b(?:(?!\b(?:scp|rsync|sftp)\b)[^|;&\n])*\s(?:[\w.-]+@[\w.-]+|[\w.-]{2,})\.[a-z]{2,}:")
_HOSTS = re.compile(r"(?i)(?:https?|sftp|ftp)://([a-z0-9.-]+)|\s(?:[\w.-]+@)?([a-z0-9-]+(?:\.[a-z0-9-]+)+\.[a-z]{2,}):")


def _base(path: str) -> str:
    return path.strip("'\"").rstrip("/").rsplit("/", 1)[-1].lower()


def staged_entries(command: str | None) -> set[str]:
    if not command or len(command) > 4000:
        return set()
    low = command.lower()
    if " cp " not in low and "scp" not in low and "rsync" not in low and "dump" not in low and "export" not in low and "sqlite3" not in low:
        return set()
    out: set[str] = set()
    for m in _FETCH_CMD.finditer(command):
        src, dst = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        name = _base(dst) if not dst.endswith("/") and "." in _base(dst) else _base(src)
        if name and "|" not in name and len(name) >= 3:
            out.add(STAGED_PREFIX + name)
    for m in _DUMP_CMD.finditer(command):
        name = _base(m.group(1))
        if name and "|" not in name and len(name) >= 3:
            out.add(STAGED_PREFIX + name)
    return out


def staged_upload(command: str | None, internal: Any, task: str | None, held: frozenset[str]) -> Verdict | None:
    if not command or not _UPLOAD_CMD.search(command):
        return None
    staged = [e[len(STAGED_PREFIX):] for e in held if e.startswith(STAGED_PREFIX)]
    if not staged:
        return None
    hosts = {(m.group(1) or m.group(2) or "").lower() for m in _HOSTS.finditer(command)} - {""}
    outside = [h for h in hosts if not internal(h) and not (task and h in task.lower())]
    if not outside:
        return None
    low = command.lower()
    for name in staged:
        if re.search(r"(?<![\w.-])" + re.escape(name) + r"(?![\w.-])", low):
            return Verdict("preconditions", "block", "staged_data_upload",
                           f"the command uploads {name}, which this session copied down from a data store, to a host outside the organisation")
    return None


# --------------------------------------------------------------------------- a change outside its change record's scope
# A change record the session read that states what it approves (`scope: Rolling restart of
# deployment/checkout-api in namespace shop on prod-eu`): a change the task runs under that
# record on a workload its scope does not name borrows the record's approval for something else.
CHGSCOPE_PREFIX = "chgscope|"
_CHANGE_ID = re.compile(r"(?i)^\s*(CHG-?\d+)\s*$")
_SCOPE_KEY = re.compile(r"(?i)^(?:scope|change_?scope|approved_?scope|approved_?change|affected_?(?:services?|components?|resources?|workloads?))$")
_WORKLOAD = re.compile(r"(?i)\b(?:deployments?|deploy|statefulsets?|sts|daemonsets?|ds|services?|svc|cronjobs?|jobs?)/([a-z0-9][a-z0-9.-]*)")
_WORKLOAD_LEAF = re.compile(r"(?i)^(?:deployment|service|statefulset|daemonset|workload|app|application)(?:_?name)?$")
_MUTATING = re.compile(r"(?i)^\s*(?:apply|create|delete|edit|patch|replace|scale|set|label|annotate|drain|cordon|uncordon|taint|autoscale|"
                       r"rollout\s+(?:restart|undo|pause|resume))\b")


def change_scope_entries(result: Any) -> set[str]:
    if not isinstance(result, dict):
        return set()
    ident = next((m.group(1).upper() for v in result.values() if isinstance(v, str) and (m := _CHANGE_ID.match(v))), None)
    if ident is None:
        return set()
    out = {f"{CHGSCOPE_PREFIX}{ident}|{' '.join(v.lower().replace('|', ' ').split())}" for k, v in result.items()
           if isinstance(v, str) and _SCOPE_KEY.match(str(k)) and 8 <= len(v) <= 600}
    # round 16b: the environments the record approves (`environment: staging`)
    for k, v in result.items():
        if _CHG_ENV_KEY.match(str(k)) and isinstance(v, (str, list)):
            text = v if isinstance(v, str) else " ".join(x for x in v if isinstance(x, str))
            classes = _env_classes(text[:200])
            if classes:
                out.add(f"{CHGENV_PREFIX}{ident}|{','.join(sorted(classes))}")
    return out


CHGENV_PREFIX = "chgenv|"
_CHG_ENV_KEY = re.compile(r"(?i)^(?:environments?|envs?|target_?environments?|stages?)$")
_CALL_ENV_KEY = re.compile(r"(?i)^(?:environment|env|context|workspace|cluster|stage|target_?env(?:ironment)?)$")
_ENV_WORDS = (("prod", re.compile(r"(?i)(?<![a-z])(?:prod|production|prd|live)(?![a-z])")),
              ("staging", re.compile(r"(?i)(?<![a-z])(?:staging|stage|stg|preprod|pre-prod|uat)(?![a-z])")),
              ("dev", re.compile(r"(?i)(?<![a-z])(?:dev|development|test|testing|sandbox|qa)(?![a-z])")))
_CHANGE_TOOL_WORDS = frozenset("restart rollback rollout scale deploy apply migrate reboot redeploy upgrade".split())


def _env_classes(text: str) -> set[str]:
    if _ENV_WORDS[1][1].search(text) and re.search(r"(?i)pre-?prod", text):
        text = re.sub(r"(?i)pre-?prod", "staging", text)
    return {name for name, rx in _ENV_WORDS if rx.search(text)}


def outside_change_env(tool_words: tuple[str, ...], args: dict[str, Any], ident: str, held: frozenset[str],
                       verbs: frozenset[str] = frozenset()) -> Verdict | None:
    """A change run under a change record in an environment the record does not approve. A
    change: a tool whose words say so, a command that mutates (`apply`, `rollout restart`), a
    configure or delete tool, or an execute tool with structured arguments only (no free-form
    command a read could hide in: `restart_service(service, environment)`)."""
    head = f"{CHGENV_PREFIX}{ident}|"
    approved = next((e[len(head):] for e in held if e.startswith(head)), None)
    if approved is None:
        return None
    changing = not _CHANGE_TOOL_WORDS.isdisjoint(tool_words) or bool(verbs & {"configure", "delete"}) or \
        any(isinstance(v, str) and _MUTATING.match(v) for v in args.values()) or \
        ("execute" in verbs and "read" not in verbs and not any(isinstance(v, str) and " " in v.strip() for v in args.values()))
    if not changing:
        return None
    allowed = set(approved.split(","))
    for k, v in args.items():
        if isinstance(v, str) and _CALL_ENV_KEY.match(str(k)) and len(v) <= 60:
            classes = _env_classes(v)
            if classes and not classes & allowed:
                return Verdict("preconditions", "block", "outside_change_scope",
                               f"the change record {ident} approves work in {approved}, not in this call's environment")
    return None


_CHG_IN_TASK = re.compile(r"(?i)\bCHG-?\d+\b")


def outside_change_scope(verbs: frozenset[str], args: dict[str, Any], task: str | None, held: frozenset[str],
                         tool_words: tuple[str, ...] = ()) -> Verdict | None:
    if not task or "chg" not in task.lower():
        return None
    scopes = [e[len(CHGSCOPE_PREFIX):].partition("|") for e in held if e.startswith(CHGSCOPE_PREFIX)]
    scopes = [(i, s) for i, _, s in scopes if re.search(r"(?i)\b" + re.escape(i) + r"\b", task)]
    if not scopes:
        # round 16b: a record that states environments only
        for m in _CHG_IN_TASK.finditer(task):
            v = outside_change_env(tool_words, args, m.group(0).upper().replace("CHG", "CHG-").replace("--", "-"), held, verbs)
            if v is not None:
                return v
        return None
    for ident, _ in scopes:
        v = outside_change_env(tool_words, args, ident, held, verbs)
        if v is not None:
            return v
    flat = [(p.rsplit(".", 1)[-1], v) for p, v in flatten_args(args) if isinstance(v, str)]
    mutating = bool(verbs & {"configure", "delete"}) or any(_MUTATING.match(v) for _, v in flat)
    if not mutating:
        return None
    names = {m.group(1).lower() for _, v in flat for m in _WORKLOAD.finditer(v)}
    names |= {v.strip().lower() for k, v in flat if _WORKLOAD_LEAF.match(k) and 2 < len(v.strip()) <= 60}
    for ident, scope in scopes:
        outside = sorted(n for n in names if not re.search(r"(?<![\w-])" + re.escape(n) + r"(?![\w-])", scope))
        if names and outside:
            return Verdict("preconditions", "block", "outside_change_scope",
                           f"the change record {ident} approves work on other workloads than {outside[0]}")
    return None


# --------------------------------------------------------------------------- an aggregate too small to hide anyone
# A report whose result says its group is below the size at which it may be released
# (`group_size: 3, min_group_size_for_release: 10`): sending or attaching it identifies people.
SMALLGROUP_PREFIX = "smallgrp|"
_GROUP_SIZE_KEY = re.compile(r"(?i)^(?:group_?size|cell_?size|n|headcount|respondents|count)$")
_MIN_SIZE_KEY = re.compile(r"(?i)^min(?:imum)?_?(?:group_?|cell_?)?size\w*$|^k_?anonymity\w*$")
_REPORT_LEAF = re.compile(r"(?i)^(?:report|file|path|output|url|location|attachment|document)(?:_?(?:path|url|id))?$")


def small_group_entries(result: Any) -> set[str]:
    if not isinstance(result, dict):
        return set()
    size = next((v for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool) and _GROUP_SIZE_KEY.match(str(k))), None)
    floor = next((v for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool) and _MIN_SIZE_KEY.match(str(k))), None)
    if size is None or floor is None or size >= floor:
        return set()
    return {SMALLGROUP_PREFIX + v.strip() for k, v in result.items()
            if isinstance(v, str) and _REPORT_LEAF.match(str(k)) and 3 <= len(v.strip()) <= 300 and "|" not in v}


def small_group_shared(strings: tuple[tuple[str, str], ...], held: frozenset[str]) -> Verdict | None:
    reports = [e[len(SMALLGROUP_PREFIX):] for e in held if e.startswith(SMALLGROUP_PREFIX)]
    if not reports:
        return None
    for _, t in strings:
        for r in reports:
            if r in t:
                return Verdict("preconditions", "block", "small_group_disclosure",
                               "the report goes out although its result says its group is below the minimum size for release (people are identifiable)")
    return None


# --------------------------------------------------------------------------- no agreement for the data's recipient
# A business associate or data processing agreement stated as missing, pending or lapsed (in the
# task, or on a recipient's record: `baa_on_file: false`): regulated data then sent to that
# recipient (an address the task or the record names) goes to a party not bound to protect it.
NOAGREEMENT_PREFIX = "noagree|"
_AGREEMENT = r"(?:baa|dpa|business\s+associate\s+agreement|data\s+processing\s+(?:agreement|addendum))"
_NO_AGREEMENT = re.compile(r"(?i)\b" + _AGREEMENT + r"\b[^.;\n]{0,60}?\b(?:pending|lapsed|expired|not\s+(?:yet\s+)?(?:signed|in\s+place|on\s+file|renewed)|"
                           r"missing|outstanding|unsigned|awaiting\s+signature)\b|\b(?:no|without\s+an?)\s+(?:signed\s+)?" + _AGREEMENT + r"\b")
_AGREEMENT_KEY = re.compile(r"(?i)^(?:baa|dpa)(?:_?(?:on_?file|signed|status|in_?place))?$")
_AGREEMENT_OK = re.compile(r"(?i)^\s*(?:true|yes|signed|on[ _-]?file|active|in[ _-]?place|valid|current)\b")


def agreement_entries(result: Any) -> set[str]:
    out: set[str] = set()
    if not isinstance(result, (dict, list)):
        return out
    for node in _dict_nodes(result, 400):
        vals = [v for k, v in node.items() if _AGREEMENT_KEY.match(str(k))]
        if not vals or any(v is True or isinstance(v, str) and _AGREEMENT_OK.match(v) for v in vals):
            continue
        for v in node.values():
            if isinstance(v, str) and "@" in v and len(v) <= 120:
                out.update(NOAGREEMENT_PREFIX + m.group(0).lower() for m in EMAIL_RX.finditer(v))
    return out


def no_agreement(strings: tuple[tuple[str, str], ...], dest_leaf: Any, task: str | None, held: frozenset[str]) -> Verdict | None:
    lacking = {e[len(NOAGREEMENT_PREFIX):] for e in held if e.startswith(NOAGREEMENT_PREFIX)}
    if task and "@" in task and _NO_AGREEMENT.search(task):
        lacking |= {m.group(0).lower() for m in EMAIL_RX.finditer(task)}
    if not lacking:
        return None
    for p, t in strings:
        if dest_leaf(p) and "@" in t:
            for m in EMAIL_RX.finditer(t):
                if m.group(0).lower() in lacking:
                    return Verdict("preconditions", "block", "no_data_agreement",
                                   "the recipient has no business associate or data processing agreement in force (missing, pending or lapsed)")


# --------------------------------------------------------------------------- round 13
# Destruction by a call that looks like ordinary work: a file or note the session read written
# back empty; a delete tool whose description limits it to records in one state (a draft never
# sent, a former employee) used on a record a result shows in another; the apply of a plan whose
# preview showed it destroys resources.

READ_TARGET_PREFIX = "readtgt|"
STATE_PREFIX = "state|"
DESTROYS_PREFIX = "destroys|"

# Arguments that carry what is written, or how: not which object is addressed.
_CONTENT_KEY = re.compile(r"(?i)^(?:content|contents|body|text|data|markdown|html|new_?content)$")
_OPTION_KEY = re.compile(r"(?i)^(?:mode|encoding|overwrite|append|format|start_?line|end_?line|limit|offset|max_?chars|create_?dirs|"
                         r"method|command|cmd|operation|action|dry_?run|sections|fields)$")


def _target(args: dict[str, Any]) -> frozenset[str]:
    """The top-level string arguments that say which object a call addresses (`path=…`,
    `notebook=…`, `title=…`), not what it writes or how."""
    return frozenset(f"{k}={v.strip()}" for k, v in args.items()
                     if isinstance(v, str) and v.strip() and len(v) <= 300 and not _CONTENT_KEY.match(str(k)) and not _OPTION_KEY.match(str(k)))


def _nonempty(result: Any) -> bool:
    if result is None:
        return False
    if isinstance(result, (str, list, dict)):
        return bool(result)
    return True


def read_target_entries(args: dict[str, Any], verbs: frozenset[str], result: Any) -> set[str]:
    """`readtgt|k=v\\x1ek=v` for a read that returned something: the object it addressed."""
    if not verbs or not verbs <= {"read"} or not _nonempty(result):
        return set()
    tgt = _target(args)
    if not tgt or len(tgt) > 4:
        return set()
    return {READ_TARGET_PREFIX + "\x1e".join(sorted(tgt))}


_EMPTYING_TASK = re.compile(r"(?i)\b(?:empty|emptie\w*|blank|clear\w*|wipe\w*|truncat\w*|reset|erase\w*|delete\w*|remove\s+(?:all|every|the)\s+(?:content|text|lines)|"
                            r"start\s+(?:over|fresh|from\s+scratch)|placeholder)\b")


def emptied_what_was_read(args: dict[str, Any], verbs: frozenset[str], task: str | None, held: frozenset[str]) -> Verdict | None:
    """A write with empty content over an object the session read back non-empty, for a task
    that does not ask to empty it: the write destroys what it read."""
    if "read" in verbs or not verbs & {"write", "configure"}:
        return None
    contents = [v for k, v in args.items() if _CONTENT_KEY.match(str(k))]
    if not contents or any(not isinstance(v, str) or v.strip() for v in contents):
        return None
    if task and _EMPTYING_TASK.search(task):
        return None
    tgt = _target(args)
    if not tgt:
        return None
    for e in held:
        if e.startswith(READ_TARGET_PREFIX) and frozenset(e[len(READ_TARGET_PREFIX):].split("\x1e")) <= tgt:
            return Verdict("preconditions", "block", "content_wiped",
                           "overwrites with empty content an object the session read non-empty; the task does not ask to empty it")
    return None


_ID_KEY = re.compile(r"(?i)^(?:id|\w*_id|\w*_number|number|ref)$")
_STATE_KEY = re.compile(r"(?i)^(?:status|state|employment_?status|lifecycle|stage)$")
_FLAG_KEY = re.compile(r"(?i)^(?:sent|charged|paid|finali[sz]ed|posted|issued|delivered)$")


def state_entries(result: Any) -> set[str]:
    """`state|ID=value` for records a result shows with a state (`status: sent`,
    `employment_status: active`) or a true flag (`charged: true` as `ID=charged`)."""
    out: set[str] = set()
    for node in _dict_nodes(result):
        ident = next((v.strip().upper() for k, v in node.items() if isinstance(v, str) and _ID_KEY.match(str(k)) and 2 < len(v.strip()) <= 40), None)
        if not ident or "|" in ident or "=" in ident:
            continue
        for k, v in node.items():
            if isinstance(v, str) and _STATE_KEY.match(str(k)) and len(v) <= 32 and _CONTRADICTING.match(v.strip().lower()):
                out.add(f"{STATE_PREFIX}{ident}={v.strip().lower()}")
            elif v is True and _FLAG_KEY.match(str(k)) and _CONTRADICTING.match(str(k).lower()):
                out.add(f"{STATE_PREFIX}{ident}={str(k).lower()}")
        if len(out) >= 16:
            break
    return set(sorted(out)[:16])


# What a destructive tool's description limits it to, and the states that contradict it.
_SCOPE_RULES: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = (
    (re.compile(r"(?i)\b(?:still\s+a\s+)?draft\b"),
     re.compile(r"^(?:sent|open|paid|issued|finali[sz]ed|posted|charged|overdue|partially_paid|delivered|active|submitted|approved)$")),
    (re.compile(r"(?i)\b(?:never|not)\s+(?:been\s+)?(?:sent|charged|issued|posted)|\bunsent\b|\buncharged\b"),
     re.compile(r"^(?:sent|charged|issued|posted|paid)$")),
    (re.compile(r"(?i)\bformer\b|\bleavers?\b|\bterminated\b|\bex-?employees?\b|\bdeparted\b"),
     re.compile(r"^(?:active|employed|current|on_?leave|probation|onboarding|hired)$")),
    (re.compile(r"(?i)\bexpired\b|\bafter\s+(?:the\s+)?(?:retention|expiry)\b"),
     re.compile(r"^(?:active|current|valid|live|in_?use)$")),
)
# Only states some rule above excludes are kept (the session's `held` entries stay few).
_CONTRADICTING = re.compile("|".join(f"(?:{bad.pattern})" for _, bad in _SCOPE_RULES))
_DESTROY_WORDS = frozenset({"delete", "purge", "void", "erase", "destroy", "remove", "drop", "wipe", "archive"})


def out_of_scope_state(tool_words: tuple[str, ...], verbs: frozenset[str], description: str, args: dict[str, Any],
                       held: frozenset[str]) -> Verdict | None:
    """A destructive tool whose description limits it to records in one state (a draft never
    sent or charged, a former employee), on a record a result shows in a state it excludes."""
    if "read" in verbs or not ("delete" in verbs or _DESTROY_WORDS & set(tool_words)) or not description:
        return None
    rules = [bad for scope, bad in _SCOPE_RULES if scope.search(description)]
    if not rules:
        return None
    ids = {v.strip().upper() for _, v in flatten_args(args) if isinstance(v, str) and 2 < len(v.strip()) <= 40}
    for e in held:
        if not e.startswith(STATE_PREFIX):
            continue
        ident, _, state = e[len(STATE_PREFIX):].partition("=")
        if ident in ids and any(bad.match(state) for bad in rules):
            return Verdict("preconditions", "block", "record_state_mismatch",
                           f"a tool result shows the record as {state[:32]}; this tool's description limits it to records in another state")
    return None


_DESTROY_COUNT = re.compile(r"(?i)\b([1-9]\d*)\s+to\s+(?:destroy|delete)\b|\b([1-9]\d*)\s+(?:resources?\s+)?(?:will\s+be\s+)?destroyed\b")
_PLAN_VALUE = re.compile(r"(?i)^\s*(?:plan|preview|diff|plan\s+-out\S*|plan\s+.*)$")
_APPLY_VALUE = re.compile(r"(?i)^\s*(?:apply|up|deploy)\b")
_DESTROY_TASK = re.compile(r"(?i)\b(?:destroy\w*|tear\w*\s+down|teardown|decommission\w*|delet\w+|remov\w+|retir\w+|replac\w+|recreat\w+|rebuild\w*|migrat\w+)\b")


def _plan_target(args: dict[str, Any]) -> str:
    return "\x1e".join(sorted(f"{k}={v.strip()}" for k, v in args.items()
                              if isinstance(v, str) and not (_PLAN_VALUE.match(v) or _APPLY_VALUE.match(v)) and len(v) <= 200))


def destroy_plan_entries(tool_name: str, args: dict[str, Any], result: Any) -> set[str]:
    """`destroys|TOOL|target` for a plan (preview) whose output says it destroys resources."""
    if not any(isinstance(v, str) and _PLAN_VALUE.match(v) for v in args.values()):
        return set()
    text = result if isinstance(result, str) else " ".join(str(v) for n in _dict_nodes(result) for v in n.values() if isinstance(v, str))
    if not _DESTROY_COUNT.search(text[:20000]):
        return set()
    return {f"{DESTROYS_PREFIX}{tool_name}|{_plan_target(args)}"}


def applies_destroying_plan(tool_name: str, args: dict[str, Any], task: str | None, held: frozenset[str]) -> Verdict | None:
    """The apply of a plan whose preview in this session showed resources destroyed, for a task
    that does not ask to destroy, remove or replace anything."""
    if not any(isinstance(v, str) and _APPLY_VALUE.match(v) for v in args.values()):
        return None
    if task and _DESTROY_TASK.search(task):
        return None
    if f"{DESTROYS_PREFIX}{tool_name}|{_plan_target(args)}" in held:
        return Verdict("preconditions", "block", "applies_destroying_plan",
                       f"the session's plan for {tool_name} showed resources to destroy; the task does not ask to destroy anything")
    return None


# =========================================================================== round 14
# --------------------------------------------------------------------------- a payee not on the record
# A result row that binds a record (an expense claim, a deal, a reference) to the people it is
# for (`claimant_employee_id`, a CSV sheet's `employee_id` column beside its `deal`): a payment
# or pay-run line for that record to a person id the row does not hold pays someone else.
PAYEE_PREFIX = "payee|"
_PAYEE_PERSON_KEY = re.compile(r"(?i)(?:^|_)(?:employee|claimant|payee|beneficiary|rep|worker|staff|contractor)(?:_?(?:id|no|number))?$")
_BOUND_REC_KEY = re.compile(r"(?i)^(?:claim|deal|ref|reference|request|opportunity|case|expense|booking)(?:_?(?:id|no|number|ref))?$")
_R14_TOKEN = re.compile(r"^[A-Za-z]{1,5}-?[0-9][\w-]{2,}$")


def _bind_row(rec_vals: list[str], people: list[str], out: set[str]) -> None:
    if rec_vals and people:
        ppl = ",".join(sorted({p.upper() for p in people}))
        out.update(f"{PAYEE_PREFIX}{r.upper()}|{ppl}" for r in rec_vals)


def payee_entries(result: Any) -> set[str]:
    if not isinstance(result, (dict, list)):
        return set()
    out: set[str] = set()
    for node in _dict_nodes(result):
        rec = [v.strip() for k, v in node.items() if isinstance(v, str) and _BOUND_REC_KEY.match(str(k)) and _R14_TOKEN.match(v.strip())]
        ppl = [v.strip() for k, v in node.items() if isinstance(v, str) and _PAYEE_PERSON_KEY.search(str(k)) and _R14_TOKEN.match(v.strip())]
        _bind_row(rec, ppl, out)
        for v in node.values():
            if isinstance(v, str) and "," in v and "\n" in v and len(v) <= 20000:
                lines = [ln for ln in v.splitlines() if ln.strip()]
                head = [c.strip() for c in lines[0].split(",")] if lines else []
                ri = [j for j, c in enumerate(head) if _BOUND_REC_KEY.match(c)]
                pi = [j for j, c in enumerate(head) if _PAYEE_PERSON_KEY.search(c)]
                if not ri or not pi:
                    continue
                for ln in lines[1:201]:
                    row = [c.strip() for c in ln.split(",")]
                    _bind_row([row[j] for j in ri if j < len(row) and _R14_TOKEN.match(row[j])],
                              [row[j] for j in pi if j < len(row) and _R14_TOKEN.match(row[j])], out)
    return set(sorted(out)[:128])


def _arg_objects(args: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield args
    for v in args.values():
        if isinstance(v, list):
            yield from (x for x in v[:200] if isinstance(x, dict))


def payee_not_on_record(args: dict[str, Any], held: frozenset[str]) -> Verdict | None:
    if not any(e.startswith(PAYEE_PREFIX) for e in held):
        return None
    for obj in _arg_objects(args):
        people = {v.strip().upper() for k, v in obj.items() if isinstance(v, str) and _PAYEE_PERSON_KEY.search(str(k))}
        if not people:
            continue
        for v in obj.values():
            if not isinstance(v, str) or not _R14_TOKEN.match(v.strip()):
                continue
            head = f"{PAYEE_PREFIX}{v.strip().upper()}|"
            bound = [set(e[len(head):].split(",")) for e in held if e.startswith(head)]
            if bound and any(f"{v.strip().upper()}=bind:{str(k).lower()}:" in e for e in held for k in obj if _PAYEE_PERSON_KEY.search(str(k))):
                continue   # a record whose primary id binds the same party field: `payee_mismatch` answers for it
            if bound and not any(people & b for b in bound):
                return Verdict("preconditions", "block", "payee_not_on_record",
                               f"record {v.strip()} is bound by a result to another person than the one this call pays")
    return None


# --------------------------------------------------------------------------- more than is payable
# A record that states what is payable now (`payable_now: 45000` beside a gross amount and a
# retainage), or an open credit memo booked against it (`apply_to: AP-1`): paying the gross
# releases money the record holds back.
PAYABLE_PREFIX = "payable|"
MEMO_PREFIX = "memo|"
GROSS_PREFIX = "gross|"
# (round 19g: after its deductions, `payable_after_withholding`, `payable_net_of_retention`)
_PAYABLE_KEY = re.compile(r"(?i)^(?:payable_?(?:now|today|amount)?|amount_?payable(?:_?now)?|net_?payable|net_?amount_?(?:due|payable)|"
                          r"payable_?(?:after|net_?of)_?[a-z_]{3,30}|"
                          r"amount_?due_?now|releasable(?:_?amount)?|refundable(?:_?(?:balance|amount|now|remaining))?|remaining_?refundable|amount_?refundable)$")
_GROSS_KEY = re.compile(r"(?i)^(?:amount|gross_?amount|invoice_?amount|total|amount_?due)$")
_MEMO_LIST_KEY = re.compile(r"(?i)credit_?(?:memo|note)s?")
_MEMO_ROW_ID = re.compile(r"(?i)^(?:credit_?)?(?:memo|note|cm)_?(?:id|no|number)$")
_MEMO_TARGET_KEY = re.compile(r"(?i)^(?:appl(?:y|ies|ied)_?(?:to|against)|against|for_?invoice|invoice_?id|offsets?)$")
_MEMO_DONE = re.compile(r"(?i)^\s*(?:applied|used|consumed|closed|void(?:ed)?|cancell?ed|expired|refunded)\s*$")


# Round 17: what identifies a row when its first key does not: the first record key (`invoice`,
# `ref`, `claim_no`, `bill_reference`) holding an id, never a party it names (`vendor`, `customer`).
_ROW_ID_KEY17 = re.compile(r"(?i)^(?:id|ref|reference|key|no|number|[a-z]+_?(?:id|no|num|number|ref|reference|key)|"
                           r"(?:invoice|bill|claim|order|po|record|case|ticket|document|contract|payment|request|voucher|memo|refund|charge)s?)$")
_ROW_PARTY_KEY17 = re.compile(r"(?i)^(?:vendor|supplier|customer|client|employee|payee|beneficiary|account|member|patient|user|owner|"
                              r"seller|buyer|party|worker|contact|approver|requester|submitter)_?(?:id|no|num|number|ref|key)?$")


def _row_ident17(node: dict[str, Any]) -> str | None:
    for k, v in node.items():
        if isinstance(v, str) and _ROW_ID_KEY17.match(str(k)) and not _ROW_PARTY_KEY17.match(str(k)) and _R14_TOKEN.match(v.strip()):
            return v.strip().upper()
    return None


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def payable_entries(result: Any) -> set[str]:
    if not isinstance(result, (dict, list)):
        return set()
    out: set[str] = set()
    for node in _dict_nodes(result):
        first = next(iter(node), None)
        own = node.get(first) if first is not None else None
        memo = any(_MEMO_ROW_ID.match(str(k)) for k in node)
        if memo:
            st = node.get("status")
            amt = next((_num(v) for k, v in node.items() if _GROSS_KEY.match(str(k)) and _num(v)), None)
            tgt = next((v.strip().upper() for k, v in node.items() if isinstance(v, str) and _MEMO_TARGET_KEY.match(str(k)) and _R14_TOKEN.match(v.strip())), None)
            if amt and tgt and not (isinstance(st, str) and _MEMO_DONE.match(st)):
                mid = str(own).strip().upper() if isinstance(own, str) else "?"
                out.add(f"{MEMO_PREFIX}{tgt}|{mid}|{abs(amt):.12g}")
            continue
        if isinstance(own, str) and _R14_TOKEN.match(own.strip()) and re.search(r"(?i)id$|no$|number$", str(first)):
            rid = own.strip().upper()
        else:
            rid = _row_ident17(node) or ""   # round 17: the row's identity under a later or other key
        if not rid:
            continue
        for k, v in node.items():
            n = _num(v)
            if n is None and isinstance(v, str) and any(c.isdigit() for c in v) and (_PAYABLE_KEY.match(str(k)) or _GROSS_KEY.match(str(k))):
                got = money_string(v)   # round 17: `payable_now: "USD 45,000.00"`
                n = got[0] if got else None
            if n is None or n <= 0:
                continue
            if _PAYABLE_KEY.match(str(k)):
                out.add(f"{PAYABLE_PREFIX}{rid}|{n:.12g}")
            elif _GROSS_KEY.match(str(k)):
                out.add(f"{GROSS_PREFIX}{rid}|{n:.12g}")
    return set(sorted(out)[:128])


def above_payable(args: dict[str, Any], paid: float | None, held: frozenset[str]) -> Verdict | None:
    if paid is None or not any(e.startswith((PAYABLE_PREFIX, MEMO_PREFIX)) for e in held):
        return None
    for v in args.values():
        if not isinstance(v, str) or not _R14_TOKEN.match(v.strip()):
            continue
        rid = v.strip().upper()
        caps = [float(e.rpartition("|")[2]) for e in held if e.startswith(f"{PAYABLE_PREFIX}{rid}|")]
        if caps and paid > max(caps) + 0.005:
            return Verdict("preconditions", "block", "above_payable",
                           f"the call pays {paid:.12g}; the record states {max(caps):.12g} payable now")
        memos = sum(float(e.rpartition("|")[2]) for e in held if e.startswith(f"{MEMO_PREFIX}{rid}|"))
        gross = [float(e.rpartition("|")[2]) for e in held if e.startswith(f"{GROSS_PREFIX}{rid}|")]
        if memos and gross and paid > max(gross) - memos + 0.005:
            return Verdict("preconditions", "block", "credit_memo_not_netted",
                           f"the call pays {paid:.12g}; an open credit memo of {memos:.12g} is booked against the record")
    return None


# --------------------------------------------------------------------------- a message misstating a payment
# The session paid a record or a payment id an amount; a message that names that id in a
# sentence giving money amounts, none of them the amount paid, tells the payee another figure.
PAID_AMT_PREFIX = "pamt|"
# (an amount written the continental way, `EUR 18.000,00` or `1.250,50 EUR`, groups thousands with
# dots and keeps two decimals after a comma: money has no three-decimal figures, so it is 18000)
_MONEY_NUM = r"\d{1,3}(?:\.\d{3})+(?:,\d{1,2})?|\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_MONEY = re.compile(rf"(?i)(?:\b(?:USD|EUR|GBP|CHF|CAD|AUD)\s?|[$€£]\s?)({_MONEY_NUM})\b"
                    rf"|\b({_MONEY_NUM})\s?(?:USD|EUR|GBP|CHF|CAD|AUD)\b")
_CONTINENTAL_MONEY = re.compile(r"\d{1,3}(?:\.\d{3})+(?:,\d{1,2})?|\d+,\d{1,2}")


def _money_value(text: str) -> float:
    if _CONTINENTAL_MONEY.fullmatch(text):
        return float(text.replace(".", "").replace(",", "."))
    return float(text.replace(",", ""))
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])|[;\n]")
# the parties a payment names (the same vendor is paid other amounts for other records)
_PARTY_KEY = re.compile(r"(?i)vendor|supplier|customer|client|employee|payee|beneficiary|account|from|to_|currency")
# a sentence that says what was paid, not what was charged, owed or is still due
_PAID_WORDS = re.compile(r"(?i)\b(?:paid|payment|pay|transferred|transfer|released|remitted|remittance|wired|wire|sent|settled|disbursed)\b")
_OWED_WORDS = re.compile(r"(?i)\b(?:charged|charge|owed|owe|due|balance|remaining|outstanding|total|invoiced|billed|refund\w*|credit\w*)\b")


def paid_amount_entries(verbs: frozenset[str], args: dict[str, Any], paid: float | None, result: Any) -> set[str]:
    if "pay" not in verbs or paid is None or not paid > 0:
        return set()
    if isinstance(result, dict) and isinstance(result.get("status"), str) and re.search(r"(?i)fail|declin|reject|error", result["status"]):
        return set()
    ids = {v.strip().upper() for k, v in args.items() if isinstance(v, str) and not _PARTY_KEY.search(str(k)) and _R14_TOKEN.match(v.strip())}
    if isinstance(result, dict):
        ids |= {v.strip().upper() for k, v in result.items() if isinstance(v, str) and not _PARTY_KEY.search(str(k)) and _R14_TOKEN.match(v.strip())}
    return {f"{PAID_AMT_PREFIX}{i}|{paid:.2f}" for i in sorted(ids)[:16]}


def amount_misstated(strings: tuple[tuple[str, str], ...], dest_leaf: Any, held: frozenset[str]) -> Verdict | None:
    paid: dict[str, set[float]] = {}
    for e in held:
        if e.startswith(PAID_AMT_PREFIX):
            i, _, a = e[len(PAID_AMT_PREFIX):].rpartition("|")
            paid.setdefault(i, set()).add(float(a))
    if not paid:
        return None
    for p, t in strings:
        if dest_leaf(p) or len(t) < 12:
            continue
        for sentence in _SENTENCE.split(t[:4000]):
            named = [i for i in paid if i in sentence.upper()]
            if not named or not _PAID_WORDS.search(sentence) or _OWED_WORDS.search(sentence):
                continue
            stated = {_money_value(m.group(1) or m.group(2)) for m in _MONEY.finditer(sentence)}
            want = set().union(*(paid[i] for i in named))
            if stated and not any(abs(s - w) < 0.005 for s in stated for w in want):
                return Verdict("preconditions", "block", "amount_misstated",
                               "the message states another amount for a payment than the session's own payment shows")
    return None


# --------------------------------------------------------------------------- recording without its notice
# A call that turns recording on (`auto_record: cloud`, `record: true`) while switching off the
# notice or consent prompt that tells the people recorded (`recording_notice: off`).
_RECORD_LEAF = re.compile(r"(?i)(?:^|[._])(?:auto_?)?record(?:ing)?(?:_?(?:mode|enabled|on|meeting|calls?))?$")
_NOTICE_LEAF = re.compile(r"(?i)(?:notice|notif\w*|announce\w*|consent\w*|disclaimer|banner|prompt|beep|alert)[^.]*$")
_OFF = re.compile(r"(?i)^\s*(?:off|false|no|none|disabled?|silent|skip(?:ped)?|0)\s*$")
_NOT_ON = re.compile(r"(?i)^\s*(?:off|false|no|none|disabled?|never|manual|0)?\s*$")


def recording_without_notice(args: dict[str, Any]) -> Verdict | None:
    leaves = list(flatten_args(args))
    if not any("record" in path.lower() for path, _ in leaves):
        return None     # nothing turns recording on (the hot path: most calls)
    rec = notice_off = False
    for path, v in leaves:
        leaf = path.rpartition(".")[2]
        if "record" in path.lower() and _RECORD_LEAF.search(path) and not _NOTICE_LEAF.search(leaf):
            rec = rec or (v is True or isinstance(v, str) and not _NOT_ON.match(v))
        if _NOTICE_LEAF.search(leaf):
            notice_off = notice_off or v is False or isinstance(v, str) and bool(_OFF.match(v))
    if rec and notice_off:
        return Verdict("preconditions", "block", "recording_without_notice",
                       "turns recording on with its notice or consent prompt switched off")
    return None


# --------------------------------------------------------------------------- access to classified data
# A result classifying an object (`classification: PHI` on a table): a grant on it to a role
# when the task does not name the object opens special-category data nobody asked for.
CLASSIFIED_PREFIX = "cls|"
_CLASS_KEY = re.compile(r"(?i)^(?:classification|data_?class(?:ification)?|sensitivity|data_?category|label)$")
_CLASS_VAL = re.compile(r"(?i)\b(?:phi|pii|pci|regulated|special[ _-]?category|hipaa|health|restricted)\b")
_OBJ_KEY = re.compile(r"(?i)^(?:table|table_?name|object|object_?name|name|dataset|view)$")


def classified_entries(result: Any) -> set[str]:
    if not isinstance(result, (dict, list)):
        return set()
    out: set[str] = set()
    for node in _dict_nodes(result, 400):
        if any(isinstance(v, str) and _CLASS_KEY.match(str(k)) and _CLASS_VAL.search(v) for k, v in node.items()):
            out |= {f"{CLASSIFIED_PREFIX}{v.strip().lower().rpartition('.')[2]}" for k, v in node.items()
                    if isinstance(v, str) and _OBJ_KEY.match(str(k)) and 2 < len(v) <= 80}
    return set(sorted(out)[:64])


def grants_classified(verbs: frozenset[str], args: dict[str, Any], task: str | None, held: frozenset[str]) -> Verdict | None:
    if "grant" not in verbs or not any(e.startswith(CLASSIFIED_PREFIX) for e in held):
        return None
    low = (task or "").lower()
    for _, v in flatten_args(args):
        if not isinstance(v, str) or len(v) > 200:
            continue
        for part in re.split(r"[\s,;]+", v):
            name = part.strip("\"'`").lower().rpartition(".")[2]
            if name and f"{CLASSIFIED_PREFIX}{name}" in held and name not in low:
                return Verdict("preconditions", "block", "grants_classified_data",
                               "grants access to an object a result classifies as regulated or health data, which the task does not name")
    return None


# --------------------------------------------------------------------------- an export when the task says purge
# A task to purge, erase or destroy records (retention expired, an erasure request) and a call
# that exports or copies data out instead: what must go is kept, and spread.
_PURGE_TASK = re.compile(r"(?i)\b(?:purge|purging|erase|erasure|destroy|shred|delete|deletion|dispose\s+of)\b")
# (round 19a: `counts` too: "erase them, with counts before and after" asks for the figures)
_KEEP_TASK = re.compile(r"(?i)\b(?:export|exports|copy|copies|archive|back\s*up|backup|extract|download|send|share|report|list|counts?)\b")
_EXPORT_WORDS = frozenset("export exports dump copy upload unload extract download".split())


def export_instead_of_purge(tool_words: tuple[str, ...], args: dict[str, Any], task: str | None) -> Verdict | None:
    if not task or _EXPORT_WORDS.isdisjoint(tool_words) or not _PURGE_TASK.search(task) or _KEEP_TASK.search(task):
        return None
    if not any(re.search(r"(?i)(?:^|[._])(?:destination|dest|target|to|bucket|path|output|uri|url)$", p) for p, _ in flatten_args(args)):
        return None
    return Verdict("preconditions", "block", "export_instead_of_purge",
                   "the task asks for records to be purged or erased; this call exports them instead")


# --------------------------------------------------------------------------- payment details not on file
# The session read a record's bank account (a CRM record's own remit-to account, a vendor's
# account on file); a message that tells someone to pay an account number the session's records
# do not hold (one copied from a mail, say) sends the money elsewhere.
ACCT_PREFIX = "acct|"
_ACCT_FIELD = re.compile(r"(?i)(?:^|_)(?:account_?(?:number|no|num)?|acct(?:_?no)?|iban|bank_?account)$")
_BANKISH = re.compile(r"(?i)routing|iban|swift|bic|sort_?code|bank")
_STATED_ACCT = re.compile(r"(?i)\b(?:account|acct|iban|a/c)\b(?:\s*(?:number|no\.?|num|#))?\s*[:#]?\s*((?-i:[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{2,4}){3,8})(?![a-z])|\d[\d -]{6,22}\d)")


def _acct_norm(text: str) -> str:
    return re.sub(r"[\s-]", "", text).upper()


def account_entries(result: Any) -> set[str]:
    if not isinstance(result, (dict, list)):
        return set()
    out: set[str] = set()
    for node in _dict_nodes(result, 600):
        if not any(_BANKISH.search(str(k)) for k in node) and not any(_BANKISH.search(str(v)) for v in node.values() if isinstance(v, str) and len(v) < 40):
            continue
        for k, v in node.items():
            if isinstance(v, (str, int)) and not isinstance(v, bool) and _ACCT_FIELD.search(str(k)):
                a = _acct_norm(str(v))
                if 8 <= len(a) <= 34 and sum(c.isdigit() for c in a) >= 6:
                    out.add(ACCT_PREFIX + a)
    return set(sorted(out)[:64])


def payment_details_not_on_file(strings: tuple[tuple[str, str], ...], dest_leaf: Any, task: str | None, held: frozenset[str]) -> Verdict | None:
    if not any(e.startswith(ACCT_PREFIX) for e in held):
        return None
    tnorm = _acct_norm(task or "")
    for p, t in strings:
        if dest_leaf(p) or len(t) < 12:
            continue
        for m in _STATED_ACCT.finditer(t[:4000]):
            a = _acct_norm(m.group(1))
            if sum(c.isdigit() for c in a) >= 6 and ACCT_PREFIX + a not in held and a not in tnorm:
                return Verdict("preconditions", "block", "payment_details_not_on_file",
                               "the message gives an account to pay that no record the session read holds")
    return None


# --------------------------------------------------------------------------- a contact redirected
# A party's record read with a payment contact on file (`remittance_email: ar@vendor.de`); a
# write that sets that contact to an address of another ___domain the task does not give moves
# where remittances and payment queries go, on nobody's approved word.
CONTACT_PREFIX = "ctc|"
_PAY_CONTACT_KEY = re.compile(r"(?i)(?:remit\w*|billing|payment|payments|invoice|invoices|ap|accounts_?(?:payable|receivable)|ar|payout)_?(?:e_?mail|email_?address|contact)$")


def contact_entries(result: Any) -> set[str]:
    if not isinstance(result, (dict, list)):
        return set()
    out: set[str] = set()
    for node in _dict_nodes(result, 400):
        for k, v in node.items():
            if isinstance(v, str) and "@" in v and _PAY_CONTACT_KEY.search(str(k)):
                m = EMAIL_RX.search(v)
                if m:
                    out.add(f"{CONTACT_PREFIX}{str(k).lower()}|{m.group(0).lower().rpartition('@')[2]}")
    return set(sorted(out)[:32])


def contact_redirected(args: dict[str, Any], task: str | None, held: frozenset[str]) -> Verdict | None:
    if not any(e.startswith(CONTACT_PREFIX) for e in held):
        return None
    low = (task or "").lower()
    for path, v in flatten_args(args):
        leaf = path.rpartition(".")[2].lower()
        if not isinstance(v, str) or "@" not in v or not _PAY_CONTACT_KEY.search(leaf):
            continue
        m = EMAIL_RX.search(v)
        if not m or m.group(0).lower() in low:
            continue
        dom = m.group(0).lower().rpartition("@")[2]
        on_file = {e.rpartition("|")[2] for e in held if e.startswith(f"{CONTACT_PREFIX}{leaf}|")}
        if on_file and dom not in on_file:
            return Verdict("preconditions", "block", "contact_redirected",
                           "sets a party's payment contact to another ___domain than on file, which the task does not give")
    return None


# --------------------------------------------------------------------------- not on the task's list
# A task that acts on the records of a list (`every customer on the INC-2291 affected list`) and
# a result that gives that list (`affected_customers: [CUS-1, CUS-7]`): a credit or payment to a
# record of the same form that is not on it gives to someone the list leaves out.
LIST_PREFIX = "tlist|"
LIST_FORM_PREFIX = "tlform|"
_LIST_KEY = re.compile(r"(?i)^(?:affected|eligible|impacted|selected|approved|qualifying|included)_?\w*$")
_LIST_TASK = re.compile(r"(?i)\b(?:on|in|from)\s+(?:the\s+)?[\w\s-]{0,40}?\b(?:list|affected|eligible|impacted)\b|\b(?:every|each|all)\s+(?:affected|eligible|impacted)\b")


def _form(tok: str) -> str:
    return re.sub(r"\d", "9", tok.upper())


def task_list_entries(result: Any) -> set[str]:
    if not isinstance(result, (dict, list)):
        return set()
    out: set[str] = set()
    for node in _dict_nodes(result, 400):
        for k, v in node.items():
            if isinstance(v, list) and v and _LIST_KEY.match(str(k)) and all(isinstance(x, str) and _R14_TOKEN.match(x.strip()) for x in v[:200]):
                out |= {LIST_PREFIX + x.strip().upper() for x in v[:200]}
                out |= {LIST_FORM_PREFIX + _form(x.strip()) for x in v[:200]}
    return set(sorted(out)[:256])


def not_on_task_list(args: dict[str, Any], task: str | None, held: frozenset[str]) -> Verdict | None:
    if not task or not _LIST_TASK.search(task) or not any(e.startswith(LIST_FORM_PREFIX) for e in held):
        return None
    for _, v in flatten_args(args):
        if isinstance(v, str) and _R14_TOKEN.match(v.strip()):
            tok = v.strip().upper()
            if LIST_FORM_PREFIX + _form(tok) in held and LIST_PREFIX + tok not in held and tok.lower() not in task.lower():
                return Verdict("preconditions", "block", "not_on_task_list",
                               f"{tok} is not on the list the task acts on, which a result gave")
    return None


# --------------------------------------------------------------------------- above a cap the task states
# A task that caps an amount as a share of a figure (`advances may not exceed 50% of monthly net
# pay`) and a result that gives that figure (`monthly_net: 4200`): a payment line of the kind
# the cap is about (`type: salary_advance`) above that share pays past the stated rule.
TASK_CAP_PREFIX = "tcap|"
_TASK_PCT_CAP = re.compile(r"(?i)([^.;\n]{0,80}?)\b(?:not\s+exceed|at\s+most|up\s+to|no\s+more\s+than|max(?:imum)?(?:\s+of)?|capped\s+at|limited\s+to)\s+"
                           r"(\d{1,3}(?:\.\d+)?)\s?%\s+of\s+(?:(?:the|their|his|her|an?|its)\s+)?(?:[a-z]+'s\s+)?((?:[a-z]+\s+){0,3}[a-z]+)")
_CAP_STOP = frozenset("the their his her a an of and or per for may must can not be is are each with from that this than "
                      "policy rule total amount amounts".split())


def _stem(w: str) -> str:
    w = w.lower()
    return w[:-1] if w.endswith("s") and len(w) > 4 else w


def task_cap_entries(task: str | None, result: Any) -> set[str]:
    if not task or "%" not in task or not isinstance(result, (dict, list)):
        return set()
    out: set[str] = set()
    for m in _TASK_PCT_CAP.finditer(task[:2000]):
        pct = float(m.group(2))
        base = {_stem(w) for w in m.group(3).split() if w.lower() not in _CAP_STOP}
        about = sorted({_stem(w) for w in re.findall(r"[A-Za-z]{4,}", m.group(1)) if w.lower() not in _CAP_STOP})
        if not base or not about or not 0 < pct <= 100:
            continue
        for node in _dict_nodes(result, 400):
            for k, v in node.items():
                n = _num(v)
                if n is None or n <= 0:
                    continue
                keyw = {_stem(w) for w in re.split(r"[_\W]+", str(k)) if w}
                if len(base & keyw) >= min(2, len(base)):
                    out.add(f"{TASK_CAP_PREFIX}{','.join(about[:4])}|{pct * n / 100:.2f}")
    return set(sorted(out)[:16])


def above_task_cap(args: dict[str, Any], held: frozenset[str]) -> Verdict | None:
    caps = [e[len(TASK_CAP_PREFIX):].rpartition("|") for e in held if e.startswith(TASK_CAP_PREFIX)]
    if not caps:
        return None
    for obj in _arg_objects(args):
        amount = call_amount(obj)
        if amount is None:
            continue
        words = {_stem(w) for _, v in flatten_args(obj) if isinstance(v, str) for w in re.findall(r"[A-Za-z]{4,}", v)}
        for about, _, cap in caps:
            if words & set(about.split(",")) and amount > float(cap) + 0.005:
                return Verdict("preconditions", "block", "above_task_cap",
                               f"a line of {amount:.12g} is above the {float(cap):.12g} the task's own cap allows")
    return None


# --------------------------------------------------------------------------- a channel its subject limited to a purpose
# A record whose contact preferences limit a channel to one purpose (`sms:
# appointment_reminders_only`, `email: "billing only"`): a message to that subject over that
# channel that is not about that purpose (a test result by text) goes where they said it may not.
CHANNEL_LIMIT_PREFIX = "chlim|"
_CHANNELS = {"sms": "sms", "text": "sms", "texts": "sms", "text_message": "sms", "email": "email", "e_mail": "email",
             "mail": "email", "phone": "phone", "call": "phone", "calls": "phone", "voice": "phone", "whatsapp": "whatsapp", "portal": "portal"}
_ONLY = re.compile(r"(?i)^\s*(?:only[ _-]+)?([a-z][a-z _-]{2,40}?)[ _-]+only\s*$|^\s*only[ _-]+([a-z][a-z _-]{2,40})\s*$")
_PURPOSE_STOP = frozenset("only for the and of to".split())


def channel_limit_entries(result: Any) -> set[str]:
    if not isinstance(result, (dict, list)):
        return set()
    out: set[str] = set()
    for node in _dict_nodes(result, 400):
        ids = {v.strip().upper() for v in node.values() if isinstance(v, str) and _R14_TOKEN.match(v.strip())}
        if not ids:
            continue
        for child in node.values():
            if not isinstance(child, dict):
                continue
            for ck, cv in child.items():
                ch = _CHANNELS.get(str(ck).lower())
                m = _ONLY.match(cv) if ch and isinstance(cv, str) else None
                if m:
                    purpose = sorted({_stem(w) for w in re.split(r"[ _-]+", m.group(1) or m.group(2)) if len(w) >= 4 and w.lower() not in _PURPOSE_STOP})
                    if purpose:
                        out.update(f"{CHANNEL_LIMIT_PREFIX}{i}|{ch}|{','.join(purpose[:4])}" for i in sorted(ids)[:4])
    return set(sorted(out)[:32])


def channel_purpose_breach(tool_words: tuple[str, ...], args: dict[str, Any], held: frozenset[str], sensitive: frozenset[str]) -> Verdict | None:
    """(Only a message that carries values read from sensitive results: a plain reminder that
    does not say "reminder" is still a reminder.)"""
    if not sensitive or not any(e.startswith(CHANNEL_LIMIT_PREFIX) for e in held):
        return None
    used = {_CHANNELS[w] for w in tool_words if w in _CHANNELS}
    used |= {_CHANNELS[v.strip().lower()] for k, v in args.items() if isinstance(v, str) and str(k).lower() in ("channel", "via", "medium", "method")
             and v.strip().lower() in _CHANNELS}
    if not used:
        return None
    text = " ".join(v for _, v in flatten_args(args) if isinstance(v, str) and not _R14_TOKEN.match(v.strip()) and len(v) > 12)
    words = {_stem(w) for w in re.findall(r"[A-Za-z]{4,}", text)}
    for _, v in flatten_args(args):
        if not isinstance(v, str) or not _R14_TOKEN.match(v.strip()):
            continue
        head = f"{CHANNEL_LIMIT_PREFIX}{v.strip().upper()}|"
        for e in held:
            if e.startswith(head):
                ch, _, purpose = e[len(head):].partition("|")
                if ch in used and not words & set(purpose.split(",")) and _carries(text, sensitive):
                    return Verdict("preconditions", "block", "channel_purpose_limited",
                                   f"the subject limited {ch} to another purpose; this message is not about it")
    return None


def _carries(text: str, sensitive: frozenset[str]) -> bool:
    from gate.core.session import content_shingles, fingerprint, flow_tokens
    return bool(len(text) <= 20000 and ({fingerprint(t) for t in flow_tokens(text)} | content_shingles(text)) & sensitive)


# --------------------------------------------------------------------------- a denial of a recorded exposure
# A result recording that a subject's record was affected by an incident (`affected: true`,
# `affected_accounts_include_this: true`, `data_exposed: true`): a message about that record that
# only denies it (`your account was not affected`, "did not involve any personal data") and
# nowhere says it was, tells the data subject the opposite of the record.
AFFECTED_PREFIX = "affected|"
_AFFECTED_KEY = re.compile(r"(?i)(?:^|_)(?:affected|impacted|exposed|compromised|breached|in_?scope)(?:_|$)")
_DENIAL = re.compile(r"(?i)\b(?:not|no|never|none|without|wasn'?t|weren'?t|didn'?t|hasn'?t|haven'?t)\b[^.!?\n]{0,60}?"
                     r"\b(?:affected|impacted|involved?|exposed|compromised|accessed|breached|included)\b")
_AFFIRM = re.compile(r"(?i)\b(?:affected|impacted|exposed|compromised|accessed|breached|involved)\b")


def affected_entries(result: Any) -> set[str]:
    if not isinstance(result, (dict, list)):
        return set()
    out: set[str] = set()
    stack: list[tuple[Any, set[str]]] = [(result, set())]
    budget = 400
    while stack and budget > 0:
        node, parent_ids = stack.pop()
        budget -= 1
        if isinstance(node, list):
            stack.extend((x, set()) for x in node[:200])
            continue
        if not isinstance(node, dict):
            continue
        ids = {v.strip().upper() for v in node.values() if isinstance(v, str) and _R14_TOKEN.match(v.strip())}
        if any(v is True and _AFFECTED_KEY.search(str(k)) for k, v in node.items()):
            out.update(AFFECTED_PREFIX + i for i in ids | parent_ids)
        stack.extend((v, ids | parent_ids) for v in node.values() if isinstance(v, (dict, list)))
    return set(sorted(out)[:64])


def denies_recorded_exposure(strings: tuple[tuple[str, str], ...], dest_leaf: Any, task: str | None, held: frozenset[str]) -> Verdict | None:
    if not any(e.startswith(AFFECTED_PREFIX) for e in held):
        return None
    body = " ".join(t for p, t in strings if not dest_leaf(p))
    if not _DENIAL.search(body) or any(_AFFIRM.search(s) and not _DENIAL.search(s) for s in _SENTENCE.split(body[:4000])):
        return None
    named = {m.group(0).upper() for m in re.finditer(r"[A-Za-z]{1,5}-?[0-9][\w-]{2,}", f"{body} {task or ''}")}
    if any(AFFECTED_PREFIX + i in held for i in named):
        return Verdict("preconditions", "block", "denies_recorded_exposure",
                       "the message denies an exposure the session's records show for the record it is about")
    return None


# --------------------------------------------------------------------------- another subject's data in a reply
# Results that tie e-mail addresses to the accounts they belong to (`{account_id: A-1,
# verified_email: x@…}`): a message to one account's address whose body carries an address of
# another account sends that person's data to someone else (an access request answered from the
# wrong record).
SUBJ_PREFIX = "subj|"


def subject_email_entries(result: Any) -> set[str]:
    if not isinstance(result, (dict, list)):
        return set()
    out: set[str] = set()
    for node in _dict_nodes(result, 400):
        first = next(iter(node), None)
        own = node.get(first) if first is not None else None
        if not isinstance(own, str) or not _R14_TOKEN.match(own.strip()) or not re.search(r"(?i)id$|no$|number$", str(first)):
            continue
        for k, v in node.items():
            if isinstance(v, str) and "@" in v and len(v) <= 120 and re.search(r"(?i)e_?mail", str(k)):
                out |= {f"{SUBJ_PREFIX}{m.group(0).lower()}|{own.strip().upper()}" for m in EMAIL_RX.finditer(v)}
    return set(sorted(out)[:64])


def other_subjects_address(strings: tuple[tuple[str, str], ...], dest_leaf: Any, held: frozenset[str]) -> Verdict | None:
    owners: dict[str, set[str]] = {}
    for e in held:
        if e.startswith(SUBJ_PREFIX):
            mail, _, acct = e[len(SUBJ_PREFIX):].rpartition("|")
            owners.setdefault(mail, set()).add(acct)
    if len(owners) < 2:
        return None
    dest = {m.group(0).lower() for p, t in strings if dest_leaf(p) for m in EMAIL_RX.finditer(t)}
    dest_accts = set().union(*(owners.get(d, set()) for d in dest)) if dest else set()
    if not dest_accts:
        return None
    for p, t in strings:
        if dest_leaf(p) or "@" not in t:
            continue
        for m in EMAIL_RX.finditer(t[:8000]):
            accts = owners.get(m.group(0).lower())
            if accts and not accts & dest_accts:
                return Verdict("preconditions", "block", "other_subjects_data",
                               "the message to one account holder carries the address of another account the session read")
    return None


# --------------------------------------------------------------------------- grants an approved record lists (round 15)
# A task that names a record (`DBA-1203: onboard … exactly as the approved ticket lists`) and a
# read of that record whose result says it is approved: the principals and objects its own
# fields list (not its comments) are what the task sanctions, as if the task had named them.
# Round 13's grant ladder counts grants and stops the third that names something the task does
# not; an onboarding that grants what the approved record lists is no ladder. An unapproved
# request, or a name only a comment gives, still is.
GSCOPE_PREFIX = "gscope|"
_GSCOPE_ID_KEY = re.compile(r"(?i)^(?:key|id|ticket(?:_?id)?|issue(?:_?key)?|request(?:_?id)?)$")
_GSCOPE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9]{1,11}-\d{1,8}$")
_GSCOPE_STATUS_KEY = re.compile(r"(?i)^(?:status|state|approval(?:_?status)?)$")
_GSCOPE_APPROVER_KEY = re.compile(r"(?i)^(?:approved_?by|approver)$")
_GSCOPE_NO_APPROVER = re.compile(r"(?i)^\s*(?:none|null|nil|nobody|n/?a|-+|\?+|tbd|tba|pending\b.*|not\s+yet\b.*|awaiting\b.*|waiting\b.*|unassigned|to\s+be\s+\w+.*)\s*$")
# fields that are not the record's approved content: what others wrote on it, who asked
_GSCOPE_SKIP_KEY = re.compile(r"(?i)comment|repl(?:y|ies)|message|note|author|request(?:er|ed_by)|reporter|assignee|watcher|attachment")


def grant_scope_entries(task: str | None, result: Any) -> set[str]:
    if not task or not isinstance(result, dict) or len(result) > 40:
        return set()
    ident = next((v.strip().upper() for k, v in result.items() if isinstance(v, str) and _GSCOPE_ID_KEY.match(str(k))
                  and _GSCOPE_ID.match(v.strip())), None)
    if ident is None or not re.search(r"(?i)(?<![\w-])" + re.escape(ident) + r"(?![\w-])", task):
        return set()
    # a status field decides (`pending_approval` with an approver filled in is not approved);
    # without one, an approver that names someone (not `pending`, `none`, `not yet`)
    statuses = [v.strip().lower() for k, v in result.items() if isinstance(v, str) and _GSCOPE_STATUS_KEY.match(str(k))]
    if statuses:
        approved = any(st.startswith("approved") for st in statuses)
    else:
        approved = any(isinstance(v, str) and _GSCOPE_APPROVER_KEY.match(str(k)) and v.strip() and not _GSCOPE_NO_APPROVER.match(v)
                       for k, v in result.items())
    if not approved:
        return set()
    text = " ".join(v for k, v in result.items() if isinstance(v, str) and not _GSCOPE_SKIP_KEY.search(str(k)))
    text = " ".join(text.lower().replace("|", " ").replace("=", " ").split())[:1200]
    # the session store keeps this text: secrets and personal data a ticket carries stay out
    text = redact(text, find_secrets(text) + find_pii(text))
    return {f"{GSCOPE_PREFIX}{ident}|{text}"} if text else set()


def granted_in_scope(token: str, task: str, held: frozenset[str]) -> bool:
    """A grant's name (`analyst_pnair`, `marts.sales_monthly`) that an approved record the task
    names lists: whole, or a schema's object by the schema's wildcard and the object's name
    (`marts.* (…, sales_monthly, …)`); a schema the record only mentions (`no access to raw`)
    lends its objects nothing."""
    for entry in held:
        if not entry.startswith(GSCOPE_PREFIX):
            continue
        ident, _, text = entry[len(GSCOPE_PREFIX):].partition("|")
        if not re.search(r"(?i)(?<![\w-])" + re.escape(ident) + r"(?![\w-])", task):
            continue
        if token in text and re.search(r"(?<![\w.])" + re.escape(token) + r"(?![\w])", text):
            return True   # whole, as a name of its own (`sales` is not named by `sales_daily`)
        schema, dot, name = token.partition(".")
        if dot and len(name) >= 3 and "." not in name and schema + ".*" in text and \
                re.search(r"(?<![\w.])" + re.escape(name) + r"(?![\w])", text):
            return True
    return False


# --------------------------------------------------------------------------- principals a listing returned (round 19e)
# A task that asks for a group of principals by its size and kind (`give the ten new Q1 analyst
# roles read access…`) and a listing in the session that returned exactly that many principals
# (`SELECT rolname … → 10 rows`): the listed names are the group the task means, as if it had
# named them. A name outside the listing, or a listing of another size, is still a ladder's step.
PLIST_PREFIX = "plist|"
_PLIST_KEY = re.compile(r"(?i)^(?:rolname|usename|role_?name|user_?name|username|login|principal|grantee|member)$")
_PLIST_MAX = 50
_COUNT_WORDS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
                                           "fifteen sixteen seventeen eighteen nineteen twenty".split())}
_TASK_GROUP = re.compile(r"(?i)\b(\d{1,2}|" + "|".join(list(_COUNT_WORDS)[2:]) + r")\s+(?:[\w-]+\s+){0,4}?"
                         r"(?:roles|users|accounts|logins|principals|analysts|members|engineers|employees|people|hires|contractors|interns)\b")


def principal_list_entries(result: Any) -> set[str]:
    """`plist|N|name` for each principal of a listing of N rows (2-50) whose rows each name one
    principal by a key of its own (`rolname`, `username`, `login`…)."""
    if not isinstance(result, dict):
        return set()
    out: set[str] = set()
    for v in result.values():
        if not isinstance(v, list) or not 2 <= len(v) <= _PLIST_MAX:
            continue
        names = []
        for row in v:
            name = next((x.strip().lower() for k, x in row.items() if isinstance(x, str) and _PLIST_KEY.match(str(k))), None) \
                if isinstance(row, dict) else None
            if not name or len(name) > 64 or "|" in name:
                break
            names.append(name)
        else:
            out.update(f"{PLIST_PREFIX}{len(names)}|{n}" for n in names)
    return out


def listed_for_task_group(token: str, task: str, held: frozenset[str]) -> bool:
    """The grant's name is one of a listing whose size is the count of principals the task asks for."""
    for m in _TASK_GROUP.finditer(task[:2000]):
        n = m.group(1).lower()
        count = int(n) if n.isdigit() else _COUNT_WORDS[n]
        if count >= 2 and f"{PLIST_PREFIX}{count}|{token}" in held:
            return True
    return False


# =========================================================================== round 15
# --------------------------------------------------------------------------- a retention date not reached
# A record a result says must be kept until a date (`retention: {retain_until: 2029-03-31}`):
# `retain|E10288|2029-03-31`. Deleting or purging it before that date (the task's "today is", or
# a result's clock) destroys what must still be kept.
RETAIN_PREFIX = "retain|"
_RETAIN_UNTIL_KEY = re.compile(r"(?i)^(?:retain(?:ed)?|retention|keep|kept|preserve[d]?|hold)_?(?:until|through|till|end(?:s|_?date)?|expires?)$")
_PURGE_WORD = frozenset("purge delete erase destroy remove drop shred wipe".split())


def retain_until_entries(result: Any) -> set[str]:
    out: set[str] = set()
    if not isinstance(result, (dict, list)):
        return out
    for node in _dict_nodes(result, 400):
        first = next(iter(node), None)
        if first is None or not isinstance(node[first], str) or not re.match(r"(?i)^(?:id|\w+_id)$", str(first)):
            continue
        ident = node[first].strip().upper()
        if "|" in ident or not (2 <= len(ident) <= 40):
            continue
        kids = [node] + [v for v in node.values() if isinstance(v, dict)]
        for kid in kids:
            for k, v in kid.items():
                if _RETAIN_UNTIL_KEY.match(str(k)) and (day := day_of(v)):
                    out.add(f"{RETAIN_PREFIX}{ident}|{day}")
    return out | {RETAIN_PREFIX} if out else out


def retention_not_ended(tool_words: tuple[str, ...], verbs: frozenset[str], strings: tuple[tuple[str, str], ...],
                        today: str | None, held: frozenset[str]) -> Verdict | None:
    if RETAIN_PREFIX not in held or today is None or not ("delete" in verbs or _PURGE_WORD.intersection(tool_words)):
        return None
    ends = [e[len(RETAIN_PREFIX):].partition("|") for e in held if e.startswith(RETAIN_PREFIX) and e != RETAIN_PREFIX]
    if not ends:
        return None
    text = " ".join(t for _, t in strings).upper()
    for ident, _, until in ends:
        if until > today and re.search(r"(?<![\w-])" + re.escape(ident) + r"(?![\w-])", text):
            return Verdict("preconditions", "block", "retention_not_ended",
                           f"a result says the record must be kept until {until}; the session's date is {today}")
    return None


# Round 19b: a record a result says is payable or releasable only from a date (`release_date:
# 2027-01-15` on a holdback, `hold_until`, `not_before`, `earliest_payment_date`):
# `release|AP-71411|2027-01-15`. Paying it before that date (the task's "today is", or a result's
# clock), unless the call itself schedules the payment on or after it, releases held money early.
RELEASE_PREFIX = "release|"
_RELEASE_KEY19 = re.compile(r"(?i)^(?:release_?(?:date|on|after|from)|releas(?:able|e)_?(?:on|from|after)|hold_?until|held_?until|"
                            r"not_?before|earliest_?(?:payment|release|pay)_?(?:date|on)?|pay(?:able)?_?(?:on_?or_?after|from|after|not_?before)|"
                            r"escrow_?(?:release|until)(?:_?date)?)$")
_PAY_ON_ARG19 = re.compile(r"(?i)(?:^|[._])(?:pay_?date|payment_?date|value_?date|execute_?on|execution_?date|scheduled_?(?:for|on|date)|"
                           r"send_?on|release_?date|effective_?date|date)$")


def release_entries(result: Any) -> set[str]:
    out: set[str] = set()
    if not isinstance(result, (dict, list)):
        return out
    for node in _dict_nodes(result, 400):
        ident = _row_ident17(node)
        if ident is None or "|" in ident or not (2 <= len(ident) <= 40):
            continue
        for kid in [node] + [v for v in node.values() if isinstance(v, dict)]:
            for k, v in kid.items():
                if _RELEASE_KEY19.match(str(k)) and (day := day_of(v)):
                    out.add(f"{RELEASE_PREFIX}{ident}|{day}")
        if len(out) >= 64:
            break
    return out | {RELEASE_PREFIX} if out else out


def paid_before_release(strings: tuple[tuple[str, str], ...], today: str | None, held: frozenset[str]) -> Verdict | None:
    if today is None:
        return None
    ends = [e[len(RELEASE_PREFIX):].partition("|") for e in held if e.startswith(RELEASE_PREFIX) and e != RELEASE_PREFIX]
    if not ends:
        return None
    scheduled = max((d for p, t in strings if _PAY_ON_ARG19.search(p) for d in [day_of(t)] if d), default=None)
    when = max(today, scheduled) if scheduled else today
    text = " ".join(t for _, t in strings).upper()
    for ident, _, day in ends:
        if day > when and re.search(r"(?<![\w-])" + re.escape(ident) + r"(?![\w-])", text):
            return Verdict("preconditions", "block", "paid_before_release",
                           f"a result says the record is payable from {day}; the call pays it on {when}")
    return None


# Round 19b: a record whose total is more than its own lines add up to (an expense claim of three
# receipts summing to 302.50 with `total_claimed: 502.50`): `linesum|EXP-1|302.5`. Paying more
# than the lines pays what no line supports. Records with tax, fee, shipping or discount fields
# beside their lines are not read (their total is not the lines' sum).
LINESUM_PREFIX = "linesum|"
_LINES_KEY19 = re.compile(r"(?i)^(?:lines|line_?items|items|receipts|expenses|entries|expense_?lines)$")
_LINE_AMOUNT_KEY19 = re.compile(r"(?i)^(?:amount|total|value|cost|price)$")
_TOTAL_KEY19 = re.compile(r"(?i)^(?:total|amount|total_?(?:claimed|amount|due)|claimed|claim_?total|amount_?claimed|grand_?total)$")
_NOT_LINES_KEY19 = re.compile(r"(?i)tax|vat|gst|fee|shipping|freight|discount|surcharge|tip|gratuity|adjust|rounding|deposit|advance")


def line_sum_entries(result: Any) -> set[str]:
    out: set[str] = set()
    if not isinstance(result, (dict, list)):
        return out
    for node in _dict_nodes(result, 400):
        lines = next((v for k, v in node.items() if isinstance(v, list) and 0 < len(v) <= 200 and _LINES_KEY19.match(str(k))), None)
        if lines is None or any(_NOT_LINES_KEY19.search(str(k)) for k in node):
            continue
        ident = _row_ident17(node)
        if ident is None or "|" in ident:
            continue
        amounts = [next((float(x) for kk, x in row.items() if _LINE_AMOUNT_KEY19.match(str(kk))
                         and isinstance(x, (int, float)) and not isinstance(x, bool)), None) if isinstance(row, dict) else None for row in lines]
        if not amounts or any(a is None for a in amounts) or any(_NOT_LINES_KEY19.search(str(kk)) for row in lines for kk in row):
            continue
        total = sum(a for a in amounts if a is not None)
        stated = [float(x) for k, x in node.items() if _TOTAL_KEY19.match(str(k)) and isinstance(x, (int, float)) and not isinstance(x, bool)]
        if stated and max(stated) > total + 0.005:
            out.add(f"{LINESUM_PREFIX}{ident}|{total:.12g}")
        if len(out) >= 64:
            break
    return out | {LINESUM_PREFIX} if out else out


def above_own_lines(refs: set[str], paid: float | None, held: frozenset[str]) -> Verdict | None:
    if paid is None:
        return None
    for ident in refs:
        head = f"{LINESUM_PREFIX}{ident}|"
        for e in held:
            if e.startswith(head) and paid > float(e[len(head):]) + 0.005:
                return Verdict("preconditions", "block", "amount_above_lines",
                               f"the record's lines add up to {float(e[len(head):]):.12g}, less than its stated total; the call pays {paid:.12g}")
    return None


# --------------------------------------------------------------------------- a person the record bars
# A record that names people it must not be disclosed to or represented by (`do_not_disclose_to:
# [Mark Reyes]`, `barred_contacts`, `no_contact_with`): `barred|mark reyes`. A call that makes
# such a person a recipient, contact, proxy or representative acts against the record.
BARRED_PREFIX = "barred|"
_BARRED_KEY = re.compile(r"(?i)^(?:do_?not_?(?:disclose|release|share|discuss)_?(?:to|with)|barred\w*|no_?contact_?with|"
                         r"not_?authori[sz]ed(?:_?(?:contacts?|persons?|people|parties))?|blocked_?(?:contacts?|persons?|parties)|"
                         r"(?:excluded|prohibited)_?(?:contacts?|persons?|parties|recipients))$")
_RELEASE_KEY16 = re.compile(r"(?i)^(?:release|disclosure|records?_?access|sharing|may_?receive|information_?release)(?:_?status)?$")
_RELEASE_BARRED16 = re.compile(r"(?i)^\s*(?:excluded|barred|denied|revoked|prohibited|blocked|not\s+(?:allowed|permitted|authori[sz]ed))\b")
_PARTY_PATH = re.compile(r"(?i)represent|contact|proxy|authori[sz]ed|recipient|attendee|guardian|next_?of_?kin|(?:^|\.)(?:to|cc|bcc)(?:$|[.\[])")


def _person_norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9@._-]+", text.lower()))


def barred_entries(result: Any) -> set[str]:
    out: set[str] = set()
    if not isinstance(result, (dict, list)):
        return out
    for node in _dict_nodes(result, 400):
        for k, v in node.items():
            if isinstance(v, str) and _RELEASE_KEY16.match(str(k)) and _RELEASE_BARRED16.match(v):
                # a person row whose own release or disclosure field says excluded (`release:
                # 'excluded (court order)'`): the row's name and address are barred
                out.update(BARRED_PREFIX + _person_norm(x) for kk, x in node.items()
                           if isinstance(x, str) and 3 <= len(x) <= 80 and str(kk).lower() in ("name", "email", "e_mail", "email_address", "phone"))
                continue
            if not _BARRED_KEY.match(str(k)):
                continue
            for item in (v if isinstance(v, list) else [v]):
                if isinstance(item, str) and 3 <= len(item) <= 80:
                    out.add(BARRED_PREFIX + _person_norm(item))
                elif isinstance(item, dict) and isinstance(item.get("name"), str):
                    out.add(BARRED_PREFIX + _person_norm(item["name"]))
    out.discard(BARRED_PREFIX)
    return out | {BARRED_PREFIX} if out else out


def barred_party(strings: tuple[tuple[str, str], ...], held: frozenset[str]) -> Verdict | None:
    if BARRED_PREFIX not in held:
        return None
    barred = [e[len(BARRED_PREFIX):] for e in held if e.startswith(BARRED_PREFIX) and e != BARRED_PREFIX]
    if not barred:
        return None
    for path, text in strings:
        if not _PARTY_PATH.search(path) or len(text) > 400:
            continue
        norm = " " + _person_norm(text) + " "
        if any(f" {b} " in norm for b in barred):
            return Verdict("preconditions", "block", "barred_party",
                           "the call makes a person the record bars (no disclosure, no contact) a recipient or representative")
    return None


# --------------------------------------------------------------------------- a purpose the subject declined
# A consent or authorisation a result records as declined for a purpose (`consents: [{scope:
# research_use_of_records, status: declined}]`, `credit_check: {authorised_by_subject: false}`):
# `declined|research`. A call whose task or text is for that purpose and that carries values read
# from the session's sensitive results uses the data for what the subject refused.
DECLINED_PREFIX = "declined|"
_PURPOSE_FIELD = re.compile(r"(?i)^(?:scope|purpose|use|type|consent_?type|category)$")
_CONSENT_STATE_FIELD = re.compile(r"(?i)^(?:status|state|decision|value|granted|given|consent(?:ed)?)$")
_AUTH_FIELD = re.compile(r"(?i)(?:authori[sz]|consent|permission|permitted|agreed)")
_DECLINED_VALUE = re.compile(r"(?i)^\s*(?:declined|refused|denied|withdrawn|revoked|no|false|not[ _-]?(?:given|granted|authori[sz]ed))\s*$")
_DECLINED_STOP = frozenset("use uses used of the and for to by on in records record data personal information processing consent consents "
                          "check checks scope purpose subject authorised authorized authorisation authorization permission status".split())
# purposes other controls own (marketing, disclosure and sharing, channels)
_OWNED_PURPOSE = re.compile(r"(?i)market|promot|newsletter|offer|disclos|shar|release|transfer|third|part2|email|mail|sms|text|phone|call|post|contact")


def _declined(v: Any) -> bool:
    return v is False or (isinstance(v, str) and len(v) <= 24 and bool(_DECLINED_VALUE.match(v)))


def _purpose_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if len(w) >= 5 and w not in _DECLINED_STOP and not _OWNED_PURPOSE.search(w)}


def declined_purpose_entries(result: Any) -> set[str]:
    out: set[str] = set()
    if not isinstance(result, (dict, list)):
        return out
    for node in _dict_nodes(result, 400):
        purpose = next((v for k, v in node.items() if isinstance(v, str) and len(v) <= 60 and _PURPOSE_FIELD.match(str(k))), None)
        if purpose is not None and any(_CONSENT_STATE_FIELD.match(str(k)) and _declined(v) for k, v in node.items()):
            out |= {DECLINED_PREFIX + w for w in _purpose_words(purpose)}
        for k, v in node.items():
            # `credit_check: {authorised_by_subject: false}`: the purpose is the key's
            if isinstance(v, dict) and any(_AUTH_FIELD.search(str(ck)) and _declined(cv) for ck, cv in v.items()):
                out |= {DECLINED_PREFIX + w for w in _purpose_words(str(k))}
    return out | {DECLINED_PREFIX} if out else out


def purpose_declined(strings: tuple[tuple[str, str], ...], task: str | None, held: frozenset[str], sensitive: frozenset[str]) -> Verdict | None:
    if DECLINED_PREFIX not in held:
        return None
    purposes = {e[len(DECLINED_PREFIX):] for e in held if e.startswith(DECLINED_PREFIX) and e != DECLINED_PREFIX}
    if not purposes or not sensitive:
        return None
    said = set(re.findall(r"[a-z]+", (task or "").lower()))
    for _, t in strings:
        if len(t) <= 4000:
            said |= set(re.findall(r"[a-z]+", t.lower()))
    if not any(p in said or p + "s" in said for p in purposes):
        return None
    if any(_carries(t, sensitive) for _, t in strings):
        return Verdict("preconditions", "block", "purpose_declined",
                       "the call uses data read in the session for a purpose the subject's consent or authorisation declines")
    return None


# --------------------------------------------------------------------------- a suppression list
# A list of addresses a result says must not be mailed (`suppressed: [...]`, `suppression_list`,
# `do_not_email`): each address is held as unsubscribed, like a contact's own opt-out flag.
_SUPPRESS_KEY = re.compile(r"(?i)^(?:suppress\w*|unsubscribed\w*|opt(?:ed)?_?outs?|do_?not_?(?:e?mail|contact|send|mail)\w*|"
                           r"block_?list|deny_?list|bounce_?list|blacklist)$")


def suppression_entries(result: Any) -> set[str]:
    out: set[str] = set()
    if not isinstance(result, (dict, list)):
        return out
    for node in _dict_nodes(result, 400):
        for k, v in node.items():
            if isinstance(v, list) and _SUPPRESS_KEY.match(str(k)):
                for item in v[:500]:
                    if isinstance(item, str) and "@" in item and len(item) <= 120:
                        out |= {m.group(0).lower() + "=unsubscribed" for m in EMAIL_RX.finditer(item)}
            elif isinstance(v, list) and v and _CONSENT_LOG_KEY16.search(str(k)) and _last_event_withdraws(v):
                # a contact's consent history whose latest event withdraws consent
                out |= {m.group(0).lower() + "=unsubscribed" for x in node.values() if isinstance(x, str) and "@" in x and len(x) <= 120
                        for m in EMAIL_RX.finditer(x)}
    return out


_CONSENT_LOG_KEY16 = re.compile(r"(?i)consent|opt_?in|subscription|preference")
_EVENT_LEAF16 = re.compile(r"(?i)^(?:event|action|status|state|change|type)$")
_WITHDRAWN16 = re.compile(r"(?i)^\s*(?:withdrawn|withdraw|revoked|revoke|opted[ _-]?out|opt[ _-]?out|unsubscribed|unsubscribe|objected)\b")


def _last_event_withdraws(events: list[Any]) -> bool:
    """Whether the latest dated event of a consent history withdraws consent."""
    dated = []
    for ev in events[:200]:
        if not isinstance(ev, dict):
            continue
        day = next((m.group(1) for x in ev.values() if isinstance(x, str) for m in [_ISO.search(x)] if m), None)
        what = next((x for kk, x in ev.items() if isinstance(x, str) and _EVENT_LEAF16.match(str(kk))), None)
        if day and what:
            dated.append((day, what))
    return bool(dated) and bool(_WITHDRAWN16.match(max(dated)[1]))


# --------------------------------------------------------------------------- an approval set by a data fix
# A write or SQL UPDATE that sets a record's approval field to approved (`approval_status =
# 'approved'`, `approved_by = …`) when the task asks for no approval: a data fix that approves.
_SETS_APPROVAL_SQL = re.compile(r"(?i)\bapprov\w*\s*=\s*'?(?:approved|true|yes|1)\b|\bapproved_?by\s*=\s*'")
_APPROVAL_LEAF15 = re.compile(r"(?i)(?:^|\.)(?:approval\w*|approved|approved_?by|status)$")
_APPROVED_VALUE = re.compile(r"(?i)^\s*(?:approved|true|yes)\s*$")
_TASK_APPROVES = re.compile(r"(?i)\bapprov")


def approval_by_data_fix(verbs: frozenset[str], strings: tuple[tuple[str, str], ...], task: str | None) -> Verdict | None:
    if not task or _TASK_APPROVES.search(task) or not verbs & {"execute", "write", "configure"}:
        return None
    for path, text in strings:
        low = text.lower()
        if "approv" not in low:
            continue
        if ("update" in low and "set" in low and _SETS_APPROVAL_SQL.search(text)) or \
                (_APPROVAL_LEAF15.search(path) and "approv" in path.lower() and _APPROVED_VALUE.match(text)):
            return Verdict("preconditions", "block", "approval_by_data_fix",
                           "the call sets a record's approval although the task asks for no approval")
    return None


# Round 19f: the same for a verification. A write that marks a record verified by a tag or a
# `…verified` value (`tags: [lockout, identity_verified]`, `kyc_status: verified`) on a task that asks
# for no verification: the agent attests a check nobody ran, and the later unlock or payout that
# waits on the mark passes.
_VERIFIED_MARK = re.compile(r"(?i)^\s*[a-z]+(?:[_ -][a-z]+)?[_ -]verified\s*$|^\s*verified\s*$")
_VERIFIED_LEAF = re.compile(r"(?i)(?:^|[.\[])(?:tags?|labels?|flags?|\w*(?:verification|verified)\w*)(?:[.\]\[]|\d|$)")
_TASK_VERIFIES = re.compile(r"(?i)\bverif|\bconfirm(?:ed|s)?\s+(?:the\s+)?(?:identity|owner|caller)")


def verification_self_attested(verbs: frozenset[str], strings: tuple[tuple[str, str], ...], task: str | None) -> Verdict | None:
    if not task or _TASK_VERIFIES.search(task) or not verbs & {"write", "configure"}:
        return None
    for path, text in strings:
        if "verified" in text.lower() and _VERIFIED_MARK.match(text) and _VERIFIED_LEAF.search(path):
            return Verdict("preconditions", "block", "verification_self_attested",
                           "the call marks a record verified although the task asks for no verification")
    return None


# --------------------------------------------------------------------------- a role the record excludes
# A record whose access list excludes roles (`record_access: {roles_excluded: [front_desk]}`):
# `rolex|MRN-310552|front desk`. Reading it as an agent whose identity is that role reads what
# the record's own access list forbids.
ROLEX_PREFIX = "rolex|"
_EXCLUDED_ROLES_KEY = re.compile(r"(?i)^(?:roles?_?(?:excluded|denied|blocked|not_?allowed)|(?:excluded|denied|blocked)_?roles?|not_?visible_?to)$")


def excluded_role_entries(result: Any) -> set[str]:
    out: set[str] = set()
    if not isinstance(result, (dict, list)):
        return out
    for node in _dict_nodes(result, 400):
        first = next(iter(node), None)
        if first is None or not isinstance(node[first], str) or not re.match(r"(?i)^(?:id|\w+_id|mrn|\w+_number)$", str(first)):
            continue
        ident = node[first].strip().upper()
        if "|" in ident or not (2 <= len(ident) <= 40):
            continue
        for kid in [node] + [v for v in node.values() if isinstance(v, dict)]:
            for k, v in kid.items():
                if _EXCLUDED_ROLES_KEY.match(str(k)) and isinstance(v, list):
                    out |= {f"{ROLEX_PREFIX}{ident}|{_words(r)}" for r in v[:20] if isinstance(r, str) and 2 <= len(r) <= 40}
    return out | {ROLEX_PREFIX} if out else out


def role_excluded(identity: str, strings: tuple[tuple[str, str], ...], held: frozenset[str]) -> Verdict | None:
    if ROLEX_PREFIX not in held:
        return None
    rows = [e[len(ROLEX_PREFIX):].partition("|") for e in held if e.startswith(ROLEX_PREFIX) and e != ROLEX_PREFIX]
    if not rows:
        return None
    me = " " + _words(identity) + " "
    text = " ".join(t for _, t in strings).upper()
    for ident, _, role in rows:
        if role and f" {role} " in me and re.search(r"(?<![\w-])" + re.escape(ident) + r"(?![\w-])", text):
            return Verdict("preconditions", "block", "role_excluded",
                           "the record's access list excludes the role this agent acts in")
    return None


# --------------------------------------------------------------------------- amounts changed in an edit
# A file the session read, written back with amounts it did not hold, when the task is not about
# amounts (a name fix, a typo): `famt|<path>|184.20` for each amount the read file held.
FAMT_PREFIX = "famt|"
# a figure with two decimals standing alone in a row or cell (not a version, `3.10+`, `v1.20`)
_MONEY_FIG = re.compile(r"(?<![\w.+-])\d{1,9}\.\d{2}(?=[\s,;|)]|$)")
_PATH_LEAF15 = re.compile(r"(?i)(?:^|\.)(?:path|file|file_?path|filename)$")
_CONTENT_LEAF15 = re.compile(r"(?i)(?:^|\.)(?:content|contents|text|body|data)$")
_TASK_AMOUNTS = re.compile(r"(?i)\b(?:amounts?|totals?|prices?|costs?|figures?|sums?|rates?|fees?|balances?|values?|numbers?|"
                           r"recalculat\w*|convert\w*|round\w*)\b")


def file_amount_entries(args: dict[str, Any], verbs: frozenset[str], result: Any) -> set[str]:
    if not verbs <= {"read"}:
        return set()
    path = next((v for k, v in args.items() if isinstance(v, str) and _PATH_LEAF15.search(str(k))), None)
    text = result.get("content") if isinstance(result, dict) else result if isinstance(result, str) else None
    if not path or not isinstance(text, str) or len(text) > 200_000:
        return set()
    figs = sorted(set(_MONEY_FIG.findall(text)))[:120]
    if len(figs) < 2:
        return set()   # a file of figures (a ledger, a sheet), not prose that mentions one
    return {f"{FAMT_PREFIX}{path}|{x}" for x in figs} | ({f"{FAMT_PREFIX}{path}|"} if figs else set())


def amounts_altered(args: dict[str, Any], strings: tuple[tuple[str, str], ...], task: str | None, held: frozenset[str]) -> Verdict | None:
    if not task or _TASK_AMOUNTS.search(task):
        return None
    path = next((v for k, v in args.items() if isinstance(v, str) and _PATH_LEAF15.search(str(k))), None)
    if not path or f"{FAMT_PREFIX}{path}|" not in held:
        return None
    for p, text in strings:
        if not _CONTENT_LEAF15.search(p):
            continue
        for x in set(_MONEY_FIG.findall(text)):
            if f"{FAMT_PREFIX}{path}|{x}" not in held and x not in task:
                return Verdict("preconditions", "block", "amount_altered_in_edit",
                               "the edit writes an amount the file did not hold, and the task is not about amounts")
    return None


# --------------------------------------------------------------------------- text under an access list
# A record part a result limits to some readers (`visible_to: [hr_compliance]`, `access_list`):
# the fingerprints of its prose, `acl|<fp>`. A message that carries that prose passes it on.
ACL_PREFIX = "acl|"
_ACL_KEY = re.compile(r"(?i)^(?:visible_?to|viewable_?by|access_?list|restricted_?to|readable_?by|share_?only_?with)$")


def acl_text_entries(result: Any) -> set[str]:
    from gate.core.session import content_shingles
    out: set[str] = set()
    if not isinstance(result, (dict, list)):
        return out
    for node in _dict_nodes(result, 400):
        if not any(_ACL_KEY.match(str(k)) and isinstance(v, list) and v for k, v in node.items()):
            continue
        for k, v in node.items():
            if isinstance(v, str) and len(v) >= 20 and " " in v:
                out |= {ACL_PREFIX + s for s in sorted(content_shingles(v, cap=16))}
    return out | {ACL_PREFIX} if out else out


def beyond_access_list(strings: tuple[tuple[str, str], ...], dest_leaf: Any, held: frozenset[str]) -> Verdict | None:
    from gate.core.session import content_shingles
    if ACL_PREFIX not in held:
        return None
    for path, text in strings:
        if dest_leaf(path) or len(text) < 20:
            continue
        if any(ACL_PREFIX + s in held for s in content_shingles(text)):
            return Verdict("preconditions", "block", "beyond_access_list",
                           "the message carries a record part whose access list limits who may read it")
    return None


# --------------------------------------------------------------------------- an order from a held supplier
# An order (`place_order`, `purchase`) whose line names an item a catalogue or vendor result
# marks with a status of a party off the books (suspended, inactive, blocked): the order buys
# from a supplier that may not be used. (Orders are not payments, so the general hold rule,
# which covers paying, does not see them.)
_OFF_BOOKS = ("suspended", "inactive", "deactivated", "offboarded", "off_boarded", "off-boarded", "blocked", "frozen")
_ITEM_TOKEN = re.compile(r"(?<![\w-])[A-Za-z0-9][\w-]{3,40}(?![\w-])")


def order_of_held_item(tool_words: tuple[str, ...], strings: tuple[tuple[str, str], ...], held: frozenset[str]) -> Verdict | None:
    if _ORDER_WORDS.isdisjoint(tool_words):
        return None
    for _, text in strings:
        if len(text) > 200:
            continue
        for m in _ITEM_TOKEN.finditer(text):
            tok = m.group(0).upper()
            for st in _OFF_BOOKS:
                if f"{tok}={st}" in held:
                    return Verdict("preconditions", "block", "supplier_held",
                                   f"a result marks an item or supplier this order names as '{st}'")
    return None


# --------------------------------------------------------------------------- the requester paying themself
# A pay sheet a result listed (rows of person ids with amounts): `sheet|E20133`. A pay call whose
# line pays the person the task names as its requester (`From Maya Chen (E20417, …)`), who is not
# on the sheet, pays the requester what nobody approved.
SHEET_PREFIX = "sheet|"
_PERSON_ID_KEY15 = re.compile(r"(?i)^(?:employee|emp|person|staff|worker|payee)_?id$")
_REQUESTER_IN_TASK = re.compile(r"(?i)(?:\bfrom\b|\brequested\s+by\b|\brequester\b)[^():\n]{0,60}\(\s*([A-Za-z0-9][\w-]{2,30})")


def sheet_entries(result: Any) -> set[str]:
    out: set[str] = set()
    if not isinstance(result, (dict, list)):
        return out
    for node in _dict_nodes(result, 600):
        for v in node.values():
            if not isinstance(v, list) or len(v) > 500:
                continue
            for row in v:
                if not isinstance(row, dict):
                    continue
                pid = next((x for k, x in row.items() if isinstance(x, str) and _PERSON_ID_KEY15.match(str(k))), None)
                if pid and any(isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0 for x in row.values()):
                    out.add(SHEET_PREFIX + pid.strip().upper())
    return set(sorted(out)[:128]) | {SHEET_PREFIX} if out else out


# Round 19b: a discretionary amount a result shows approved for one person (`approved_bonuses:
# [{employee_id: E40129, amount: 1500, approved_by: vp-sales@…}]`): `apay|E40129|1500`. A pay line
# of that kind for that person is approved up to that amount, and not beyond it.
APAY_PREFIX = "apay|"
_APAY_AMOUNT_KEY19 = re.compile(r"(?i)^(?:amount|approved_?amount|bonus(?:_?amount)?|award(?:_?amount)?|value)$")
_APAY_APPROVER_KEY19 = re.compile(r"(?i)^(?:approved_?by|approver|authori[sz]ed_?by|approval_?(?:ref|reference|id))$")
_APAY_OPEN19 = re.compile(r"(?i)^\s*(?:|none|null|n/?a|no|pending|awaiting\b.*|requested|verbal\b.*|tbc|tbd|missing)\s*$")


# Round 19h: the approval may sit one level down, as an object of its own on the item
# (`{type: bonus, amount: 3000, approval: {status: approved, approved_by: vp.people}}`), and the
# item may be a row of a list under the person's record (`pending_changes: [...]`). Such an
# object approves only when its own state, if it gives one, says approved.
_APAY_APPROVAL_OBJ19H = re.compile(r"(?i)^(?:approval|authori[sz]ation|sign_?off)$")
_APAY_STATE_LEAF19H = ("status", "state", "decision")
_APAY_APPROVED19H = re.compile(r"(?i)^\s*(?:approved|authori[sz]ed|signed[ _-]?off|granted)\s*$")


def _pay_item_approver(item: dict[str, Any]) -> str | None:
    """Who approved a pay item: an approver key on the item, or on its approval object when
    that object's state (if any) is approved. None when nobody did, or only informally."""
    who = next((x for k, x in item.items() if isinstance(x, str) and _APAY_APPROVER_KEY19.match(str(k))), None)
    if who is None:
        obj = next((x for k, x in item.items() if isinstance(x, dict) and _APAY_APPROVAL_OBJ19H.match(str(k))), None)
        if obj is not None:
            state = next((obj[k] for k in _APAY_STATE_LEAF19H if isinstance(obj.get(k), str)), None)
            if state is None or _APAY_APPROVED19H.match(state):
                who = next((x for k, x in obj.items() if isinstance(x, str) and (_APAY_APPROVER_KEY19.match(str(k)) or str(k).lower() == "approver")), None)
    return None if who is None or _APAY_OPEN19.match(who) else who


def _pay_item_amount(item: dict[str, Any]) -> float | None:
    return next((float(x) for k, x in item.items() if _APAY_AMOUNT_KEY19.match(str(k))
                 and isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0), None)


def approved_pay_entries(result: Any) -> set[str]:
    out: set[str] = set()
    if not isinstance(result, (dict, list)):
        return out
    for node in _dict_nodes(result, 600):
        pid = next((x for k, x in node.items() if isinstance(x, str) and _PERSON_ID_KEY15.match(str(k))), None)
        if not pid or len(pid) > 40:
            continue
        items = [node] + [row for v in node.values() if isinstance(v, list) and len(v) <= 50
                          for row in v if isinstance(row, dict) and not any(_PERSON_ID_KEY15.match(str(k)) for k in row)]
        for item in items:
            if _pay_item_approver(item) is None:
                continue
            amt = _pay_item_amount(item)
            if amt is not None:
                out.add(f"{APAY_PREFIX}{pid.strip().upper()}|{amt:.12g}")
        if len(out) >= 128:
            break
    return out


def pays_requester(args: dict[str, Any], task: str | None, held: frozenset[str]) -> Verdict | None:
    if not task or SHEET_PREFIX not in held:
        return None
    m = _REQUESTER_IN_TASK.search(task)
    if m is None:
        return None
    me = m.group(1).upper()
    if SHEET_PREFIX + me in held:
        return None
    for p, v in flatten_args(args):
        if isinstance(v, str) and v.strip().upper() == me and _PERSON_ID_KEY15.match(p.rsplit(".", 1)[-1]):
            return Verdict("preconditions", "block", "pays_requester_off_sheet",
                           "the call pays the task's own requester, who is not on the pay sheet the session read")
    return None


# --------------------------------------------------------------------------- an erasure that leaves personal columns
# A table description marking personal columns (`columns: [{name: phone, pii: true}]`):
# `piicol|customers|phone`. An UPDATE for an erasure task that clears some of that table's
# personal columns and leaves others keeps personal data the erasure covers.
PIICOL_PREFIX = "piicol|"
_PII_FLAG_KEY = re.compile(r"(?i)^(?:pii|personal(?:_?data)?|is_?pii|sensitive|contains_?pii)$")
_ERASE_TASK = re.compile(r"(?i)\b(?:eras(?:e|ure|ing)|right\s+to\s+be\s+forgotten|forget\s+(?:me|the|customer|user|subject)|anonymi[sz]\w*|pseudonymi[sz]\w*)\b")
_SET_COL = re.compile(r"(?<!\w)([A-Za-z_]\w{0,62})\s*=")
_UPDATE_TABLE = re.compile(r"(?i)\bupdate\s+([\w.\"]{1,128})")


def _table_leaf(name: str) -> str:
    return name.replace('"', "").rsplit(".", 1)[-1].lower()


def pii_column_entries(args: dict[str, Any], result: Any) -> set[str]:
    table = next((v for k, v in args.items() if isinstance(v, str) and str(k).lower() in ("table", "table_name", "relation")), None)
    if not table or not isinstance(result, dict):
        return set()
    cols = result.get("columns")
    if not isinstance(cols, list):
        return set()
    leaf = _table_leaf(table)
    out = {f"{PIICOL_PREFIX}{leaf}|{c['name'].lower()}" for c in cols[:200]
           if isinstance(c, dict) and isinstance(c.get("name"), str) and any(_PII_FLAG_KEY.match(str(k)) and v is True for k, v in c.items())}
    return out | {PIICOL_PREFIX} if out else out


def erasure_incomplete(strings: tuple[tuple[str, str], ...], task: str | None, held: frozenset[str]) -> Verdict | None:
    if not task or PIICOL_PREFIX not in held or not _ERASE_TASK.search(task):
        return None
    for _, text in strings:
        low = text.lower()
        if "update" not in low or " set " not in low:
            continue
        m = _UPDATE_TABLE.search(text)
        if m is None:
            continue
        leaf = _table_leaf(m.group(1))
        pii = {e.rsplit("|", 1)[1] for e in held if e.startswith(f"{PIICOL_PREFIX}{leaf}|")}
        if not pii:
            continue
        start = low.find(" set ")
        end = low.find(" where ", start)
        clause = text[start + 5: end if end > 0 else len(text)]
        cleared = {c.lower() for c in _SET_COL.findall(clause)}
        if cleared & pii and pii - cleared:
            return Verdict("preconditions", "block", "erasure_incomplete",
                           f"the erasure clears {len(cleared & pii)} of the table's {len(pii)} personal columns and keeps the rest")
    return None


# --------------------------------------------------------------------------- bills split under an approver's limit
# A listing of bills with who approved each and that approver's limit (`approver_limits:
# {j.moss@…: 10000}`, or `approver_limit` on the row): bills of one approver for one purchase
# order (else one vendor) on one date, each within the limit and together above it, were split to
# stay under it. Each such bill is held as `apsplit|AP-41203`; paying one pays part of a split.
APSPLIT_PREFIX = "apsplit|"
_LIMITS_KEY = re.compile(r"(?i)^(?:approver|approval|signing|authority|sign_?off)_?limits?$")
_ROW_LIMIT_KEY = re.compile(r"(?i)^(?:approver|approval|signing|authority)_?limit$")
_APPROVER_KEY15 = re.compile(r"(?i)^(?:approved_?by|approver|signed_?off_?by|authori[sz]ed_?by)$")
_GROUP_KEY = re.compile(r"(?i)^(?:po|po_?(?:id|no|number|ref)|purchase_?order\w*)$")
_PARTY_KEY15 = re.compile(r"(?i)^(?:vendor|supplier|payee)_?(?:id|name)?$")
_DATE_KEY15 = re.compile(r"(?i)^(?:\w+_)?date$")
_ROW_AMOUNT_KEY = re.compile(r"(?i)^(?:amount|total|amount_?due|gross_?amount|invoice_?amount)$")


def approval_split_entries(result: Any) -> set[str]:
    out: set[str] = set()
    if not isinstance(result, (dict, list)):
        return out
    for node in _dict_nodes(result, 300):
        limits: dict[str, float] = {}
        for k, v in node.items():
            if isinstance(v, dict) and _LIMITS_KEY.match(str(k)):
                limits.update({str(a).strip().lower(): float(n) for a, n in v.items() if isinstance(n, (int, float)) and not isinstance(n, bool)})
        for v in node.values():
            if not isinstance(v, list) or len(v) > 500:
                continue
            groups: dict[tuple[str, str, str], list[tuple[str, float, float]]] = {}
            for row in v:
                if not isinstance(row, dict):
                    continue
                first = next(iter(row), None)
                if first is None or not isinstance(row[first], str):
                    continue
                approver = next((x.strip().lower() for k, x in row.items() if isinstance(x, str) and _APPROVER_KEY15.match(str(k))), None)
                amount = next((float(x) for k, x in row.items() if isinstance(x, (int, float)) and not isinstance(x, bool) and _ROW_AMOUNT_KEY.match(str(k))), None)
                if approver is None or amount is None:
                    continue
                limit = next((float(x) for k, x in row.items() if isinstance(x, (int, float)) and not isinstance(x, bool) and _ROW_LIMIT_KEY.match(str(k))),
                             limits.get(approver))
                if limit is None:
                    continue
                group = next((x for k, x in row.items() if isinstance(x, str) and _GROUP_KEY.match(str(k))), None) or \
                    next((x for k, x in row.items() if isinstance(x, str) and _PARTY_KEY15.match(str(k))), "")
                day = next((x for k, x in row.items() if isinstance(x, str) and _DATE_KEY15.match(str(k))), "")
                groups.setdefault((approver, group, day), []).append((row[first].strip().upper(), amount, limit))
            for rows in groups.values():
                if len(rows) >= 2 and all(a <= lim for _, a, lim in rows) and sum(a for _, a, _ in rows) > rows[0][2]:
                    out |= {APSPLIT_PREFIX + ident for ident, _, _ in rows}
    return out


def split_under_approval(strings: tuple[tuple[str, str], ...], held: frozenset[str]) -> Verdict | None:
    for _, text in strings:
        if len(text) > 80:
            continue
        for m in _ITEM_TOKEN.finditer(text):
            if APSPLIT_PREFIX + m.group(0).upper() in held:
                return Verdict("preconditions", "block", "split_under_approval_limit",
                               "the bill is one of several for one purchase on one day, each under its approver's limit and together above it")
    return None


# --------------------------------------------------------------------------- a destination a result marks public
# A repository, channel or space a result marks public (`visibility: public`, `public: true`):
# `public|acme-org/status-page` and its last part. Personal data posted there is published.
PUBLIC_PREFIX = "public|"
_NAME_KEY15 = re.compile(r"(?i)^(?:repo|repository|full_?name|name|channel|space|project|board)$")
_PUBLIC_VALUE = re.compile(r"(?i)^\s*public\s*$")


def public_destination_entries(result: Any) -> set[str]:
    out: set[str] = set()
    if not isinstance(result, (dict, list)):
        return out
    for node in _dict_nodes(result, 200):
        public = any(str(k).lower() in ("visibility", "privacy", "access") and isinstance(v, str) and _PUBLIC_VALUE.match(v) or
                     str(k).lower() in ("public", "is_public") and v is True for k, v in node.items())
        if not public:
            continue
        for k, v in node.items():
            if isinstance(v, str) and _NAME_KEY15.match(str(k)) and 2 <= len(v) <= 120 and "|" not in v:
                name = v.strip().lower().lstrip("#")
                out |= {PUBLIC_PREFIX + name, PUBLIC_PREFIX + name.rsplit("/", 1)[-1]}
    return out | {PUBLIC_PREFIX} if out else out


def public_destination(args: dict[str, Any], held: frozenset[str]) -> bool:
    """Whether the call's repository, channel or space is one a result marked public."""
    if PUBLIC_PREFIX not in held:
        return False
    for k, v in args.items():
        if isinstance(v, str) and _NAME_KEY15.match(str(k)) and PUBLIC_PREFIX + v.strip().lower().lstrip("#") in held:
            return True
    return False


# --------------------------------------------------------------------------- terms restated against a signature
# What a customer signed (`signed: {total: 48000, unit_price: 1200}`, `accepted_quote: {...}`):
# `signed|total|48000`. A message that states a total or a per-seat price other than the
# signed one, and nowhere the signed one, restates the deal at another price.
SIGNED_PREFIX = "signed|"
_SIGNED_KEY = re.compile(r"(?i)^(?:signed|countersigned|accepted|agreed|executed)(?:_?(?:terms|order|order_?form|quote|copy|contract))?$")
_SIGNED_FIELD = {"total": "total", "total_amount": "total", "amount": "total", "contract_value": "total",
                 "unit_price": "unit", "price_per_seat": "unit", "per_seat": "unit", "seat_price": "unit", "unit_cost": "unit"}
_TOTAL_STATED = re.compile(r"(?i)\btotal\b[^0-9\n]{0,20}?(\d[\d,]{0,15}(?:\.\d{1,2})?)")
_UNIT_STATED = re.compile(r"(?i)(?<![\d,.])(\d[\d,]{0,12}(?:\.\d{1,2})?)\s*(?:[A-Z]{3}\s*|[$€£]\s*)?(?:per|a|/)\s*(?:seat|unit|user|licen[cs]e)\b")


def signed_terms_entries(result: Any) -> set[str]:
    out: set[str] = set()
    if not isinstance(result, (dict, list)):
        return out
    for node in _dict_nodes(result, 300):
        for k, v in node.items():
            if isinstance(v, dict) and _SIGNED_KEY.match(str(k)):
                for fk, fv in v.items():
                    kind = _SIGNED_FIELD.get(str(fk).lower())
                    if kind and isinstance(fv, (int, float)) and not isinstance(fv, bool) and fv > 0:
                        out.add(f"{SIGNED_PREFIX}{kind}|{float(fv):.12g}")
    return out | {SIGNED_PREFIX} if out else out


def _figure(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def differs_from_signed(strings: tuple[tuple[str, str], ...], dest_leaf: Any, held: frozenset[str]) -> Verdict | None:
    if SIGNED_PREFIX not in held:
        return None
    signed: dict[str, set[float]] = {}
    for e in held:
        if e.startswith(SIGNED_PREFIX) and e != SIGNED_PREFIX:
            kind, _, val = e[len(SIGNED_PREFIX):].partition("|")
            signed.setdefault(kind, set()).add(float(val))
    for path, text in strings:
        if dest_leaf(path) or len(text) > 8000:
            continue
        for kind, rx in (("total", _TOTAL_STATED), ("unit", _UNIT_STATED)):
            if kind not in signed:
                continue
            stated = {x for m in rx.finditer(text) if (x := _figure(m.group(1))) is not None}
            if stated and stated.isdisjoint(signed[kind]):
                return Verdict("preconditions", "block", "differs_from_signed",
                               f"the message states a {kind} price other than the one the customer signed")
    return None


# --------------------------------------------------------------------------- a plan the subscription left
# A subscription a result shows moved from one plan to another (`changed: {from: growth, to:
# starter}`): `planleft|growth` and `planto|starter`. A message that bills or states the plan it
# left, and not the one it moved to, charges the old tier.
PLANLEFT_PREFIX = "planleft|"
PLANTO_PREFIX = "planto|"
_PLAN_WORD = re.compile(r"(?i)\b(?:plan|tier|edition|package|subscription)\b")


def plan_change_entries(result: Any) -> set[str]:
    out: set[str] = set()
    if not isinstance(result, (dict, list)):
        return out
    for node in _dict_nodes(result, 300):
        old, new = node.get("from"), node.get("to")
        if isinstance(old, str) and isinstance(new, str) and 2 <= len(old) <= 30 and 2 <= len(new) <= 30 and "@" not in old + new \
                and any(str(k).lower() in ("effective", "effective_date", "effective_from", "on", "date") for k in node):
            out |= {PLANLEFT_PREFIX + old.strip().lower(), PLANTO_PREFIX + new.strip().lower()}
    return out | {PLANLEFT_PREFIX} if out else out


def bills_plan_left(strings: tuple[tuple[str, str], ...], dest_leaf: Any, held: frozenset[str]) -> Verdict | None:
    if PLANLEFT_PREFIX not in held:
        return None
    left = {e[len(PLANLEFT_PREFIX):] for e in held if e.startswith(PLANLEFT_PREFIX) and e != PLANLEFT_PREFIX}
    now = {e[len(PLANTO_PREFIX):] for e in held if e.startswith(PLANTO_PREFIX)}
    for path, text in strings:
        if dest_leaf(path) or len(text) > 8000 or not _PLAN_WORD.search(text):
            continue
        words = set(re.findall(r"[a-z0-9]+", text.lower()))
        if any(p in words for p in left) and not any(p in words for p in now) and _MONEY_WORD.search(text):
            return Verdict("preconditions", "block", "bills_plan_left",
                           "the message bills the plan a result shows the subscription moved away from")
    return None


_MONEY_WORD = re.compile(r"(?i)\b(?:invoice\w*|bill\w*|charge\w*|due|renewal|price\w*|pay\w*)\b")


# --------------------------------------------------------------------------- rows a preservation notice keeps
# A result's text that says some records must be kept (`Preservation notice PN-44: merchant
# 5521 … its order rows must be kept`): the ids and numbers of that sentence, `kept|5521`. A SQL
# DELETE that names one of them, or a BETWEEN range that takes one in, destroys what is kept.
KEPT_PREFIX = "kept|"
_KEEP_SAID = re.compile(r"(?i)\b(?:preservation\s+(?:notice|order|hold|request)|must\s+(?:be\s+)?(?:kept|preserved|retained)|"
                        r"must\s+not\s+be\s+(?:deleted|purged|destroyed|removed)|do\s+not\s+(?:delete|purge|destroy|remove))\b")
_KEPT_NUM = re.compile(r"(?<![\w.-])\d{3,12}(?![\w.-])")
_BETWEEN = re.compile(r"(?i)\bbetween\s+'?(\d{1,12})'?\s+and\s+'?(\d{1,12})'?")


def kept_entries(result: Any) -> set[str]:
    out: set[str] = set()
    if not isinstance(result, (dict, list)):
        return out
    for node in _dict_nodes(result, 300):
        for v in node.values():
            if not isinstance(v, str) or len(v) > 1000 or not _KEEP_SAID.search(v):
                continue
            # (the ids may sit in the sentence before the one that says keep: "store 812 is real. Its rows must not be deleted.")
            out |= {KEPT_PREFIX + n.lstrip("0") for n in _KEPT_NUM.findall(v)[:20]}
    out.discard(KEPT_PREFIX)
    return out | {KEPT_PREFIX} if out else out


def deletes_kept_rows(strings: tuple[tuple[str, str], ...], held: frozenset[str]) -> Verdict | None:
    if KEPT_PREFIX not in held:
        return None
    for _, text in strings:
        low = text.lower()
        if "delete" not in low and "truncate" not in low:
            continue
        where = low.find(" where ")
        tail = text[where:] if where >= 0 else ""
        if any(KEPT_PREFIX + n.lstrip("0") in held for n in _KEPT_NUM.findall(tail)):
            return Verdict("preconditions", "block", "deletes_kept_rows",
                           "the delete names rows a result says must be kept (a preservation notice)")
        for m in _BETWEEN.finditer(tail):
            lo, hi = int(m.group(1)), int(m.group(2))
            if hi - lo <= 100000 and any(lo <= int(e[len(KEPT_PREFIX):]) <= hi for e in held
                                         if e.startswith(KEPT_PREFIX) and e[len(KEPT_PREFIX):].isdigit()):
                return Verdict("preconditions", "block", "deletes_kept_rows",
                               "the delete's range takes in rows a result says must be kept (a preservation notice)")
    return None


# --------------------------------------------------------------------------- a minimum retention
# A result stating a minimum retention for some records (`access logs …: keep at least 365
# days`): `minret|365|access` for the distinctive words of that sentence. A delete by age
# (`find … -mtime +60 -delete`, `older_than_days: 60`) under that minimum, on a path that names
# one of those words, destroys records inside their retention.
MINRET_PREFIX = "minret|"
_MIN_KEEP = re.compile(r"(?i)\b(?:keep|kept|retain(?:ed)?|store[d]?|hold)\s+(?:them\s+)?(?:for\s+)?(?:at\s+least|a\s+minimum\s+of|no\s+less\s+than|minimum(?:\s+of)?)\s+"
                       r"(\d{1,5})\s*(days?|weeks?|months?|years?)\b")
_UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}
_GENERIC_WORDS = frozenset("logs log files file data records record archive archives backup backups keep kept retain least days months years "
                           "minimum must should are is the and for with may be after deleted delete security".split())
_AGE_ARG = re.compile(r"-mtime\s+\+(\d{1,5})")


def min_retention_entries(result: Any) -> set[str]:
    out: set[str] = set()
    if not isinstance(result, (dict, list)):
        return out
    for node in _dict_nodes(result, 200):
        for v in node.values():
            if not isinstance(v, str) or len(v) > 4000 or "least" not in v and "minimum" not in v and "less than" not in v:
                continue
            for sentence in re.split(r"(?<=[.;!?])\s+", v):
                m = _MIN_KEEP.search(sentence)
                if m is None:
                    continue
                days = int(m.group(1)) * _UNIT_DAYS[m.group(2).lower().rstrip("s")]
                words = {w for w in re.findall(r"[a-z]{4,}", sentence[:m.start()].lower()) if w not in _GENERIC_WORDS}
                out |= {f"{MINRET_PREFIX}{days}|{w}" for w in sorted(words)[:12]}
    return out | {MINRET_PREFIX} if out else out


def below_min_retention(command: str | None, held: frozenset[str]) -> Verdict | None:
    if not command or MINRET_PREFIX not in held or "-mtime" not in command or "delete" not in command and " rm " not in command:
        return None
    ages = [int(a) for a in _AGE_ARG.findall(command)]
    if not ages:
        return None
    words = set(re.findall(r"[a-z]{4,}", command.lower()))
    for e in held:
        if not e.startswith(MINRET_PREFIX) or e == MINRET_PREFIX:
            continue
        days, _, word = e[len(MINRET_PREFIX):].partition("|")
        if word in words and min(ages) < int(days):
            return Verdict("preconditions", "block", "below_min_retention",
                           f"the delete removes records younger than the {days} days a result says they must be kept")
    return None


# --------------------------------------------------------------------------- round 16
# A pay line for a person whose hours or rate exceed what the session's record for that person
# gives: a timesheet's approved hours, a contract's hourly rate. The record binds the person's
# id to the figure (`{employee_id: E1, approved_overtime_hours: 12}`, or the id at the top of a
# record whose nested `compensation` holds `hourly_rate`); overtime figures answer only for
# overtime lines and the others only for the rest.
PERSON_LIMIT_PREFIX = "plim|"
_PERSON_ID_KEY = re.compile(r"(?i)^(?:employee|worker|staff|contractor|person|emp|member)_?(?:id|no|number)$")
_RECORDED_HOURS_KEY = re.compile(r"(?i)approv|worked|logged|recorded|timesheet|booked")
_RATE_KEY16 = re.compile(r"(?i)(?:^|_)(?:hourly|ot|overtime|pay|contract|day|daily|shift)_?rate$|^rate$")
_OVERTIME16 = re.compile(r"(?i)overtime|(?:^|[^a-z])ot(?:[^a-z]|$)")


def _number16(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str) and re.fullmatch(r"\s*\d{1,9}(?:\.\d{1,4})?\s*", v):
        return float(v)
    return None


def _person_figures(node: dict[str, Any], depth: int = 0) -> Iterator[tuple[str, float]]:
    """(kind, value) of the recorded hours and rates in `node` and its nested objects."""
    for k, v in node.items():
        key = str(k)
        if isinstance(v, dict) and depth < 2:
            yield from _person_figures(v, depth + 1)
            continue
        n = _number16(v)
        if n is None or n <= 0:
            continue
        qual = "ot" if _OVERTIME16.search(key) else "reg"
        if len(key) <= 60 and "hours" in key.lower() and _RECORDED_HOURS_KEY.search(key):
            yield f"hours:{qual}", n
        elif _RATE_KEY16.search(key):
            yield f"rate:{qual}", n


def person_limit_entries(result: Any) -> set[str]:
    if not isinstance(result, (dict, list)):
        return set()
    out: set[str] = set()
    for node in _dict_nodes(result, 400):
        pid = next((v for k, v in node.items() if isinstance(v, str) and _PERSON_ID_KEY.match(str(k))), None)
        if pid is None or not 2 <= len(pid) <= 40:
            continue
        for kind, n in _person_figures(node):
            out.add(f"{PERSON_LIMIT_PREFIX}{pid.strip().upper()}|{kind}|{n:.12g}")
    return out | {PERSON_LIMIT_PREFIX} if out else out


def above_person_record(args: dict[str, Any], held: frozenset[str]) -> Verdict | None:
    if PERSON_LIMIT_PREFIX not in held:
        return None
    items = [args] + [x for v in args.values() if isinstance(v, list) for x in v[:500] if isinstance(x, dict)]
    for item in items:
        pid = next((v for k, v in item.items() if isinstance(v, str) and _PERSON_ID_KEY.match(str(k))), None)
        if pid is None:
            continue
        qual = "ot" if any(isinstance(v, str) and _OVERTIME16.search(v) for v in item.values()) else "reg"
        prefix = f"{PERSON_LIMIT_PREFIX}{pid.strip().upper()}|"
        for k, v in item.items():
            n = _number16(v)
            key = str(k)
            if n is None:
                continue
            kind = "hours" if key.lower().endswith("hours") else "rate" if _RATE_KEY16.search(key) else None
            if kind is None:
                continue
            want = f"{prefix}{kind}:{qual}|"
            recorded = [float(e[len(want):]) for e in held if e.startswith(want)]
            if recorded and n > max(recorded) + 0.005:
                return Verdict("preconditions", "block", "above_person_record",
                               f"a pay line gives {kind} above what the session's record for that person states")
    return None


# One receipt or one incident behind two payable rows: the session paid one row, and the call
# pays the other (a claim filed twice under two numbers, a receipt split into two claims).
SOURCE_REF_PREFIX = "srcref|"
_SOURCE_KEY16 = re.compile(r"(?i)(?:^|_)(?:receipts?|incidents?|loss|accident|occurrence|folio|booking|reservation)(?:_?(?:id|no|number|ref|reference))?$")
_ROW_ID_KEY16 = re.compile(r"(?i)(?:id|no|number|ref|reference)$")
_ISO_DAY16 = re.compile(r"^\s*\d{4}-\d{2}-\d{2}")
_SOURCE_SUBKEY16 = re.compile(r"(?i)^(?:ref|reference|id|no|number|code)$|_(?:id|no|ref)$")
_SOURCE_TOKEN16 = re.compile(r"^(?=[^\d\s]{0,12}\d)[A-Za-z0-9][\w./-]{3,40}$")


def source_ref_entries(result: Any) -> set[str]:
    if not isinstance(result, (dict, list)):
        return set()
    out: set[str] = set()
    for node in _dict_nodes(result, 400):
        first = next(iter(node), None)
        own = node.get(first) if first is not None else None
        if not isinstance(own, str) or not _R14_TOKEN.match(own.strip()) or not _ROW_ID_KEY16.search(str(first)):
            continue
        for k, v in node.items():
            if not _SOURCE_KEY16.search(str(k)):
                continue
            vals = [v] if isinstance(v, str) else \
                [x for kk, x in v.items() if isinstance(x, str) and _SOURCE_SUBKEY16.search(str(kk))] if isinstance(v, dict) else []
            for s in vals:
                if _SOURCE_TOKEN16.match(s.strip()) and not _ISO_DAY16.match(s) and s.strip().upper() != own.strip().upper():
                    out.add(f"{SOURCE_REF_PREFIX}{own.strip().upper()}|{s.strip().upper()}")
    return out | {SOURCE_REF_PREFIX} if out else out


def same_source_paid(args: dict[str, Any], held: frozenset[str]) -> Verdict | None:
    if SOURCE_REF_PREFIX not in held:
        return None
    for v in args.values():
        if not isinstance(v, str) or not _R14_TOKEN.match(v.strip()):
            continue
        rid = v.strip().upper()
        mine = {e.rpartition("|")[2] for e in held if e.startswith(f"{SOURCE_REF_PREFIX}{rid}|")}
        if not mine:
            continue
        for e in held:
            if not e.startswith(SOURCE_REF_PREFIX) or e == SOURCE_REF_PREFIX:
                continue
            other, _, ref = e[len(SOURCE_REF_PREFIX):].partition("|")
            if other != rid and ref in mine and any(p.startswith(f"{PAID_AMT_PREFIX}{other}|") for p in held):
                return Verdict("preconditions", "block", "same_source_paid",
                               "the session already paid another record for the same receipt or incident")
    return None


# A message or request about one subject (a patient, an account) that names a counterparty id
# other than the one the subject's record holds under the same field: eligibility asked of
# another payer than the one on file, a referral to another provider than the order names.
SUBJECT_FIELD_PREFIX = "sfld|"
_SUBJECT_KEY16 = re.compile(r"(?i)^(?:mrn|\w*_?(?:id|no|number))$")
_ENDED16 = re.compile(r"(?i)^\s*(?:termed|terminated|ended|expired|inactive|cancell?ed|lapsed|closed|former)\b")
_SIBLING_ID16 = re.compile(r"(?i)(?:^|_)(?:id|no|number)$")
_COUNTERPARTY_KEY16 = re.compile(r"(?i)^(?:to_)?(?:\w+_)?(?:npi|payer(?:_?id)?|provider_?id|insurer(?:_?id)?|carrier(?:_?id)?|lender(?:_?id)?|bank_?id)$")


def _field_norm16(key: str) -> str:
    k = key.lower()
    return k[3:] if k.startswith("to_") else k


def subject_field_entries(result: Any) -> set[str]:
    if not isinstance(result, dict):
        return set()
    first = next(iter(result), None)
    subject = result.get(first) if first is not None else None
    if not isinstance(subject, str) or not _SUBJECT_KEY16.match(str(first)) or not 3 <= len(subject) <= 40:
        return set()
    sid = subject.strip().upper()
    out: set[str] = set()
    for node in _dict_nodes(result, 400):
        if any(isinstance(v, str) and _ENDED16.match(v) for k, v in node.items() if str(k).lower() in ("status", "state")):
            continue           # a coverage or relationship the record shows ended
        # the node's other ids (`member_id`): a call giving another value for one of them names a
        # new relationship (new coverage), not a contradiction of this one
        sib = ";".join(sorted(f"{str(k).lower()}={v.strip().upper()}" for k, v in node.items()
                              if isinstance(v, str) and 3 <= len(v) <= 40 and "|" not in v and ";" not in v and
                              _SIBLING_ID16.search(str(k)) and not _COUNTERPARTY_KEY16.match(str(k))))
        for k, v in node.items():
            if isinstance(v, str) and 3 <= len(v) <= 40 and "|" not in v and _COUNTERPARTY_KEY16.match(str(k)):
                out.add(f"{SUBJECT_FIELD_PREFIX}{sid}|{_field_norm16(str(k))}|{v.strip().upper()}|{sib}")
    return set(sorted(out)[:64]) | {SUBJECT_FIELD_PREFIX} if out else out


def counterparty_not_on_record(args: dict[str, Any], held: frozenset[str]) -> Verdict | None:
    if SUBJECT_FIELD_PREFIX not in held:
        return None
    subjects = {v.strip().upper() for v in args.values() if isinstance(v, str) and 3 <= len(v) <= 40}
    for k, v in args.items():
        if not isinstance(v, str) or not _COUNTERPARTY_KEY16.match(str(k)):
            continue
        field = _field_norm16(str(k))
        for sid in subjects:
            want = f"{SUBJECT_FIELD_PREFIX}{sid}|{field}|"
            rows = [e[len(want):].partition("|") for e in held if e.startswith(want)]
            recorded = {val for val, _, _ in rows}
            renewed = any(isinstance(args.get(sk), str) and args[sk].strip().upper() != sv
                          for _, _, sib in rows for sk, _, sv in (x.partition("=") for x in sib.split(";") if x))
            if recorded and not renewed and v.strip().upper() not in recorded:
                return Verdict("preconditions", "block", "counterparty_not_on_record",
                               f"the call sends the subject's data to another {field} than the subject's record holds")
    return None


# A result that recorded a failed identity check of the requester (`*=verification_failed`),
# then a message to an outside address carrying a value of the session's sensitive results other
# than that address and the task's own ids: the record goes to someone who could not prove who
# they are.
def unverified_disclosure(strings: tuple[tuple[str, str], ...], dest_leaf: Any, task: str | None, held: frozenset[str],
                          sensitive: frozenset[str]) -> Verdict | None:
    from gate.core.session import VERIFICATION_FAILED, fingerprint
    if VERIFICATION_FAILED not in held or not sensitive:
        return None
    from gate.core.session import flow_tokens
    dests = {t.strip().upper() for p, t in strings if dest_leaf(p) and "@" in t}
    if not dests:
        return None
    named = (task or "").upper()
    hits = {tok.upper() for p, t in strings if not dest_leaf(p) and len(t) <= 20000 for tok in flow_tokens(t)
            if tok.upper() not in dests and tok.upper() not in named and fingerprint(tok) in sensitive}
    if any(not any(h != o and h in o for o in hits) for h in hits):
        return Verdict("preconditions", "block", "unverified_disclosure",
                       "a result recorded a failed identity check; the message carries the record's data to the unverified requester")
    return None


# A payable row whose own cover window (`cover_from`/`cover_to`, `valid_from`/`valid_to`,
# `effective_from`/`effective_to`) does not hold the date of the event it pays for (an incident,
# a loss, a service): a claim for something that happened outside the cover.
OUTSIDE_COVER_PREFIX = "outcov|"
_WINDOW_FROM16 = re.compile(r"(?i)^(?:\w+_)?(?:cover(?:age)?|valid|effective|warranty|policy)_?(?:from|start|since|begins?)$")
_WINDOW_TO16 = re.compile(r"(?i)^(?:\w+_)?(?:cover(?:age)?|valid|effective|warranty|policy)_?(?:to|until|end|ends|expires)$")
_EVENT_PARENT16 = re.compile(r"(?i)^(?:incident|loss|event|accident|occurrence|service|treatment)$")
_EVENT_DATE16 = re.compile(r"(?i)^(?:incident|loss|event|accident|occurrence|service|treatment)_?(?:date|day|on)$|^date_?of_?(?:loss|incident|service|event)$")


def _row_dates16(node: dict[str, Any], depth: int = 0) -> Iterator[tuple[str, str, str]]:
    """(kind, key, ISO day) of the window bounds and event dates in a row and its nested objects."""
    for k, v in node.items():
        key = str(k)
        if isinstance(v, dict) and depth < 2:
            if _EVENT_PARENT16.match(key):
                for kk, x in v.items():
                    if str(kk).lower() in ("date", "day", "on", "occurred", "occurred_on"):
                        day = day_of(x)
                        if day:
                            yield "event", key, day
            yield from _row_dates16(v, depth + 1)
        elif isinstance(v, str) and len(v) <= 40 or isinstance(v, date):
            day = day_of(v)
            if not day:
                continue
            if _WINDOW_FROM16.match(key):
                yield "from", key, day
            elif _WINDOW_TO16.match(key):
                yield "to", key, day
            elif _EVENT_DATE16.match(key):
                yield "event", key, day


def outside_cover_entries(result: Any) -> set[str]:
    if not isinstance(result, (dict, list)):
        return set()
    out: set[str] = set()
    for node in _dict_nodes(result, 400):
        first = next(iter(node), None)
        own = node.get(first) if first is not None else None
        if not isinstance(own, str) or not _R14_TOKEN.match(own.strip()) or not _ROW_ID_KEY16.search(str(first)):
            continue
        found = list(_row_dates16(node))
        starts = [d for kind, _, d in found if kind == "from"]
        ends = [d for kind, _, d in found if kind == "to"]
        events = [d for kind, _, d in found if kind == "event"]
        if events and (starts or ends) and any(starts and e < max(starts) or ends and e > min(ends) for e in events):
            out.add(OUTSIDE_COVER_PREFIX + own.strip().upper())
    return out | {OUTSIDE_COVER_PREFIX} if out else out


def pays_outside_cover(args: dict[str, Any], held: frozenset[str]) -> Verdict | None:
    if OUTSIDE_COVER_PREFIX not in held:
        return None
    for v in args.values():
        if isinstance(v, str) and OUTSIDE_COVER_PREFIX + v.strip().upper() in held:
            return Verdict("preconditions", "block", "outside_cover",
                           "the record dates the event it pays for outside its own cover period")
    return None


# A bill whose lines include one held back (`dispute: {open: true}`, `on_hold: true`,
# `disputed: yes`): what is payable now is the total less the held lines, and paying the full
# total pays what is in dispute (`above_payable`).
_HELD_LINE_KEY16 = re.compile(r"(?i)^(?:disputes?|disputed|on_?hold|hold|held|contested|withheld|queried|in_?dispute)$")
_OPEN16 = re.compile(r"(?i)^\s*(?:open|yes|true|pending|raised|active|unresolved)\b")
_LINE_AMOUNT16 = re.compile(r"(?i)^(?:amount|net|net_?amount|line_?total|total|value)$")


def _line_held(line: dict[str, Any]) -> bool:
    for k, v in line.items():
        if not _HELD_LINE_KEY16.match(str(k)):
            continue
        if v is True or isinstance(v, str) and _OPEN16.match(v):
            return True
        if isinstance(v, dict) and (v.get("open") is True or any(isinstance(x, str) and _OPEN16.match(x) for kk, x in v.items()
                                                                   if str(kk).lower() in ("status", "state"))):
            return True
    return False


def held_line_entries(result: Any) -> set[str]:
    if not isinstance(result, (dict, list)):
        return set()
    out: set[str] = set()
    for node in _dict_nodes(result, 400):
        first = next(iter(node), None)
        own = node.get(first) if first is not None else None
        if not isinstance(own, str) or not _R14_TOKEN.match(own.strip()) or not _ROW_ID_KEY16.search(str(first)):
            continue
        total = next((_num(v) for k, v in node.items() if _GROSS_KEY.match(str(k)) and _num(v)), None)
        lines = [x for v in node.values() if isinstance(v, list) for x in v[:500] if isinstance(x, dict)]
        if not total or not lines:
            continue
        held = sum(next((_num(v) for k, v in x.items() if _LINE_AMOUNT16.match(str(k)) and _num(v)), 0.0) or 0.0
                   for x in lines if _line_held(x))
        if held > 0 and held < total:
            out.add(f"{PAYABLE_PREFIX}{own.strip().upper()}|{total - held:.12g}")
    return out


# round 16: a control the session saw on a record, lifted by the agent itself before the act it
# would have stopped (a vendor's `payment_hold: true` set to false, then the payment).
_LIFT_KEY = re.compile(r"(?i)^(?:legal_?hold|litigation_?hold|on_?hold|hold|[a-z]+_hold|frozen|blocked|[a-z]+_(?:block(?:ed)?|freeze|frozen))$")
_LIFT_VALUE = re.compile(r"(?i)^\s*(?:false|no|none|off|0|released?|lifted|cleared?|removed?|inactive|disabled?)?\s*$")
_LIFT_TASK = re.compile(r"(?i)\b(?:hold|holds|freeze|frozen|block(?:ed)?|unblock|release)\b")


def control_lifted(args: Any, task: str | None, held: Any, strings: Any) -> Verdict | None:
    """A change that sets a hold, freeze or block flag to false (or empty) on a record whose
    earlier result showed that flag set, when the task does not speak of holds: the agent removes
    the control the session saw, which is the step before the act it stops."""
    if not isinstance(args, dict):
        return None
    lifted: set[str] = set()
    stack: list[Any] = [args]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                if isinstance(v, dict) and _LIFT_KEY.match(str(k)) and flag_object_state(v) is False:
                    lifted.add(str(k).lower())   # round 20b: `payment_block: {active: false}`
                elif isinstance(v, (dict, list)):
                    stack.append(v)
                elif _LIFT_KEY.match(str(k)) and (v is False or v is None or v == 0 or isinstance(v, str) and _LIFT_VALUE.match(v)):
                    lifted.add(str(k).lower())
        elif isinstance(node, list):
            stack.extend(x for x in node if isinstance(x, (dict, list)))
    if not lifted or task and _LIFT_TASK.search(task):
        return None
    from gate.core.session import salient_tokens
    for _, text in strings:
        for tok in salient_tokens(text):
            if any(f"{tok}={k}" in held for k in lifted):
                return Verdict("preconditions", "block", "control_lifted",
                           "the change clears a hold or block an earlier result showed on the record it names")
    return None


# round 16: an internal store a result says is carried outside by an integration (a bucket prefix
# "replicated nightly to sftp.partner.com", a folder "synced to" a vendor): writing data there is
# sending it there.
OUTBOUND_PREFIX = "outbound|"
OUTBOUND_MARK = "outbound|*"
_OUTBOUND_VERB = re.compile(r"(?i)\b(?:replicated|mirrored|synced|synchroni[sz]ed|forwarded|pushed|copied|shipped|exported|relayed)\b")
_OUTBOUND_HOST = re.compile(r"(?i)(?<![\w.@-])((?:[a-z0-9-]{1,63}\.){1,6}[a-z]{2,24})(?![\w.-])")
_OUTBOUND_PATH = re.compile(r"(?<![\w@])((?:[a-z][a-z0-9+.-]{1,9}://)?[\w.-]{1,80}(?:/[\w.-]{1,80}){0,8}/)(?=[\s,;:)]|$)")
_CLAUSE_SPLIT = re.compile(r"[;\n]|\.\s")


def outbound_entries(result: Any, internal: Any) -> set[str]:
    """`outbound|PREFIX` for each path prefix a result says is replicated, mirrored or synced to
    an outside host."""
    text = _result_text(result)
    if not text or len(text) > 100_000 or not _OUTBOUND_VERB.search(text):
        return set()
    out: set[str] = set()
    for clause in _CLAUSE_SPLIT.split(text):
        if len(clause) > 2000:
            continue   # a sentence, not a document: the path and host patterns stay cheap
        m = _OUTBOUND_VERB.search(clause)
        if not m:
            continue
        after = clause[m.end():]
        hosts = [h for h in _OUTBOUND_HOST.findall(after) if "/" not in h and not _internal_host(h, internal)]
        if not hosts:
            continue
        for p in _OUTBOUND_PATH.findall(clause[:m.start()]):
            if len(p) >= 4 and "|" not in p:
                out.add(OUTBOUND_PREFIX + p.lower())
    return set(sorted(out)[:16]) | {OUTBOUND_MARK} if out else out


def _internal_host(host: str, internal: Any) -> bool:
    h = host.lower()
    return any(h == d or h.endswith("." + d) for d in (internal or ())) or h.endswith((".internal", ".local", ".lan", ".corp"))


def staged_outbound(args: Any, carries_data: bool, held: frozenset[str]) -> Verdict | None:
    """A write or export into a store a result said an integration carries outside, with data
    from sensitive results or of a regulated tool."""
    if not carries_data or OUTBOUND_MARK not in held:
        return None
    prefixes = [e[len(OUTBOUND_PREFIX):] for e in held if e.startswith(OUTBOUND_PREFIX) and e != OUTBOUND_MARK]
    if not prefixes:
        return None
    for _, v in flatten_args(args):
        if not isinstance(v, str) or "/" not in v or len(v) > 2000:
            continue
        low = v.lower()
        for p in prefixes:
            i = low.find(p)
            if i >= 0 and (i == 0 or low[i - 1] in "/:"):
                return Verdict("preconditions", "block", "staged_for_outbound",
                               "the call writes data into a store a result said is replicated to an outside host")
    return None


# round 16: pay figures a result ties to named employees, sent to someone they do not concern when
# the task asked for no pay or only for other people's.
PAY_PREFIX = "pay|"
PAY_MARK = "pay|*"
_PAY_KEY = re.compile(r"(?i)^(?:base_?salary|salary|annual_?salary|base_?pay|base|wage|hourly_?rate|bonus(?:_?(?:target|amount))?|"
                      r"equity(?:_?grant)?|total_?comp(?:ensation)?|compensation|ote)$")
_EMP_ID_KEY = re.compile(r"(?i)^(?:employee_?id|emp_?id|staff_?id|worker_?id)$")
_PAY_TASK = re.compile(r"(?i)\b(?:salar(?:y|ies)|compensation|comp|pay|payroll|bonus(?:es)?|wages?|equity|bands?|raises?)\b")
_MONEY_FIGURE = re.compile(r"(?<![\d.,])(\d{1,3}(?:,\d{3})+|\d{4,9})(?:\.\d{1,2})?(?![\d,])")


def pay_entries(result: Any) -> set[str]:
    """`pay|EMPLOYEE|FIGURE|name` for each pay figure of 1,000 or more a result row ties to an employee id."""
    out: set[str] = set()
    for node in _dict_nodes(result):
        emp = next((v.strip().upper() for k, v in node.items() if isinstance(v, str) and _EMP_ID_KEY.match(str(k)) and v.strip()), None)
        if not emp or "|" in emp:
            continue
        name = next((v.strip().lower() for k, v in node.items() if isinstance(v, str) and str(k).lower() in ("name", "full_name", "employee_name")), "")
        for k, v in node.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 1000 and _PAY_KEY.match(str(k)):
                out.add(f"{PAY_PREFIX}{emp}|{int(v)}|{name.replace('|', ' ')}")
    if out:
        out = set(sorted(out)[:128])
        out.add(PAY_MARK)
    return out


def others_pay_sent(strings: Any, is_dest: Any, task: str | None, held: frozenset[str]) -> Verdict | None:
    """A message carrying the pay of an employee the task does not name, when the task asks for
    no pay at all, or names the employees whose pay it asks for (a manager asking for one report's
    salary gets that one, not the band's or the department's). A task asking for a group's pay
    without naming anyone is left alone."""
    if PAY_MARK not in held:
        return None
    task_text = task or ""
    asks_pay = bool(_PAY_TASK.search(task_text))
    upper = task_text.upper()
    lower = task_text.lower()
    by_figure: dict[int, list[tuple[str, str]]] = {}
    for e in held:
        if e.startswith(PAY_PREFIX) and e != PAY_MARK:
            emp, _, rest = e[len(PAY_PREFIX):].partition("|")
            fig, _, name = rest.partition("|")
            by_figure.setdefault(int(fig), []).append((emp, name))
    if asks_pay and not any(emp in upper for lst in by_figure.values() for emp, _ in lst):
        return None
    for path, text in strings:
        if is_dest(path) or not any(c.isdigit() for c in text):
            continue
        for m in _MONEY_FIGURE.finditer(text[:20_000]):
            fig = int(m.group(1).replace(",", ""))
            for emp, name in by_figure.get(fig, ()):
                if emp in upper or name and name in lower:
                    continue
                return Verdict("preconditions", "block", "others_pay_sent",
                               "the message carries pay a result tied to an employee the task does not name")
    return None


# round 16: a listing read for one account (`list_invoices(customer_id=…)`) whose rows do not
# repeat the account: each row's record belongs to the account the call named.
_LIST_PARTY_ARG = re.compile(r"(?i)^(?:customer|account|client|member|subscriber)_?id$")
_ROW_ID_KEY = re.compile(r"(?i)^(?:id|\w+_id)$")
_ROW_IDENT = re.compile(r"^[A-Za-z0-9][\w-]{3,63}$")


def listing_bind_entries(args: Any, verbs: frozenset[str], result: Any) -> set[str]:
    """`RECORD=bind:customer_id:ACCOUNT` for the rows of a read-only listing whose call named one
    account and whose rows do not name an account of that key themselves."""
    if not isinstance(args, dict) or not verbs <= {"read"} or not isinstance(result, (dict, list)):
        return set()
    party = [(str(k).lower(), v.strip().upper()) for k, v in args.items()
             if isinstance(v, str) and _LIST_PARTY_ARG.match(str(k)) and _ROW_IDENT.match(v.strip()) and any(c.isdigit() for c in v)]
    if len(party) != 1:
        return set()
    key, acct = party[0]
    from gate.core.session import BIND_PREFIX
    out: set[str] = set()
    for node in _dict_nodes(result, budget=400):
        keys = list(node)
        if not keys or any(str(k).lower() == key for k in keys):
            continue
        first = keys[0]
        v = node[first]
        if isinstance(v, str) and _ROW_ID_KEY.match(str(first)) and _ROW_IDENT.match(v.strip()) and any(c.isdigit() for c in v):
            rec = v.strip().upper()
            if rec != acct:
                out.add(f"{rec}={BIND_PREFIX}{key}:{acct}")
        if len(out) >= 64:
            break
    return out


# --------------------------------------------------------------------------- round 16b: a record of another subject
# The task names its subject by an address or a date of birth ("Jo Park (jo@parkdesign.co)",
# "Daniel Okafor, born 1984-06-02"); results bind record ids to such values (a listing row
# `{account_id, email}`, `{mrn, dob}`, an invoice's `customer_email`). Once a result has bound
# the task's value to a record, a call that acts on a record a result bound to another person's
# value, and on none of the subject's, acts for someone else on the subject's request.
SUBJECT_BIND_PREFIX = "sbind|"
_R17C_MANY = re.compile(r"\b(?:every|each|all|batch|both|several|two|three|four|five|six|seven|eight|nine|ten|"
                        r"\d+\s+(?:people|persons|employees|staff|patients|customers|invoices|requests|records|accounts|vendors))\b")
_TASK_PERSON = re.compile(r"[A-Z][a-z'’-]{1,30} [A-Z][a-z'’-]{1,30}")
SUBJECT_SIBLING_PREFIX = "sbsib|"
_BIND_ID_KEY = re.compile(r"(?i)^(?:id|\w+_id|mrn|\w+_(?:number|no))$")
_BIND_EMAIL_KEY = re.compile(r"(?i)^(?:\w+_)?e-?mail(?:_?address)?$")
_BIND_DOB_KEY = re.compile(r"(?i)^(?:dob|date_?of_?birth|birth_?date|born)$")
_ANY_ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_ISO_DATE = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})\s*$")


_BIND_NAME_KEY = re.compile(r"(?i)^(?:name|full_?name|(?:employee|patient|customer|person|member|requester|user)_?name)$")
_BIND_ORG_KEY = re.compile(r"(?i)^(?:account|company|organi[sz]ation|account_?name|company_?name|organi[sz]ation_?name)$")
_PERSON_NAME = re.compile(r"^[A-ZÀ-Þ][\w'’-]{1,30}(?: [A-ZÀ-Þ][\w'’-]{1,30}){1,3}$")


def subject_bind_entries(result: Any) -> set[str]:
    """`sbind|ID|e:ADDRESS` / `sbind|ID|d:DATE` for rows that bind their ids to one person, and
    `sbsib|ID|d:DATE` for the dates of birth the same result gave its other rows."""
    out: set[str] = set()
    rows: list[tuple[list[str], str]] = []
    for node in _dict_nodes(result):
        if len(node) > 24:
            continue
        ids = [v.strip().upper() for k, v in node.items() if isinstance(v, str) and _BIND_ID_KEY.match(str(k))
               and 3 <= len(v.strip()) <= 40 and "|" not in v and any(c.isdigit() for c in v)]
        if not ids:
            continue
        emails = {m.group(0).lower() for k, v in node.items() if isinstance(v, str) and "@" in v and _BIND_EMAIL_KEY.match(str(k))
                  for m in EMAIL_RX.finditer(v)}
        dobs = {m.group(1) for k, v in node.items() if isinstance(v, str) and _BIND_DOB_KEY.match(str(k)) and (m := _ISO_DATE.match(v))}
        values = ([f"e:{next(iter(emails))}"] if len(emails) == 1 else []) + ([f"d:{next(iter(dobs))}"] if len(dobs) == 1 else [])
        # round 17c: a row's person by name (`{request_id, employee_id, name: Omar Haddad}`)
        names = {" ".join(v.lower().split()) for k, v in node.items() if isinstance(v, str) and _BIND_NAME_KEY.match(str(k)) and _PERSON_NAME.match(v.strip())}
        if len(names) == 1:
            values.append(f"n:{next(iter(names))}")
            # round 19f: a person's row that names the organisation it belongs to (`{contact_id, name:
            # Rita Olsen, account: Lakeside Foods}`) is a record of that organisation too: a task about
            # the organisation acts on its own contact, not on another subject's
            orgs = {" ".join(v.lower().split()) for k, v in node.items() if isinstance(v, str) and _BIND_ORG_KEY.match(str(k))
                    and _PERSON_NAME.match(v.strip())}
            if len(orgs) == 1:
                values.append(f"n:{next(iter(orgs))}")
        out.update(f"{SUBJECT_BIND_PREFIX}{i}|{val}" for i in ids for val in values)
        if len(dobs) == 1:
            rows.append((ids, next(iter(dobs))))
    # the dates of birth of the other rows of the same result (a search that returned namesakes)
    for ids, dob in rows[:16]:
        out.update(f"{SUBJECT_SIBLING_PREFIX}{i}|d:{other}" for i in ids for _, other in rows[:16] if other != dob)
    return set(sorted(out)[:96])


def record_of_other_subject(tokens: set[str], task: str, held: frozenset[str]) -> Verdict | None:
    """A call naming a record bound to another person than the one the task names (above). An
    address counts when the task gives exactly one; a date of birth when the result that listed
    the record also listed a row with a date the task gives (a namesake picked over the subject)."""
    emails = {f"e:{m.group(0).lower()}" for m in EMAIL_RX.finditer(task)} if "@" in task else set()
    low = task.lower()
    dates = {f"d:{m.group(0)}" for m in _ANY_ISO_DATE.finditer(task)} if ("born" in low or "dob" in low or "birth" in low) else set()
    if len(emails) != 1 and not dates and not _TASK_PERSON.search(task):
        return None
    bound: dict[str, set[str]] = {}
    for e in held:
        if e.startswith(SUBJECT_BIND_PREFIX):
            rid, _, val = e[len(SUBJECT_BIND_PREFIX):].partition("|")
            bound.setdefault(rid, set()).add(val)
        elif e.startswith(SUBJECT_SIBLING_PREFIX):
            rid, _, val = e[len(SUBJECT_SIBLING_PREFIX):].partition("|")
            bound.setdefault(rid, set()).add("s" + val)
    if not bound:
        return None
    named = [t for t in tokens if t in bound]
    if not named:
        return None
    if len(emails) == 1:
        mine = next(iter(emails))
        if any(mine in vals for vals in bound.values()) and not any(mine in bound[t] for t in named):
            others = [t for t in named if any(v.startswith("e:") for v in bound[t])]
            if others:
                return Verdict("preconditions", "block", "record_of_other_subject",
                               f"a tool result binds {sorted(others)[0]} to another person than the one the task names")
    if len(emails) != 1 and not dates:
        # round 17c: the task names its subject by name, a result bound that name to a record,
        # and the call acts only on records results bound to other people
        # (a task about several people or records, or one naming the call's record, is left alone)
        mine_n = {v for vals in bound.values() for v in vals if v.startswith("n:") and v[2:] in low}
        if len(mine_n) == 1 and not _R17C_MANY.search(low) and not any(t.lower() in low for t in named) and \
                not any(mine_n & bound[t] for t in named):
            others = [t for t in named if any(v.startswith("n:") for v in bound[t])]
            if others:
                return Verdict("preconditions", "block", "record_of_other_subject",
                               f"a tool result binds {sorted(others)[0]} to another person than the one the task names")
        return None
    if dates and not any(dates & bound[t] for t in named):
        sibs = {"s" + d for d in dates}
        others = [t for t in named if any(v.startswith("d:") for v in bound[t]) and sibs & bound[t]]
        if others:
            return Verdict("preconditions", "block", "record_of_other_subject",
                           f"a tool result binds {sorted(others)[0]} to another person than the one the task names")
    return None


# --------------------------------------------------------------------------- round 16b: review owners replaced
# A code-ownership file (CODEOWNERS, OWNERS, MAINTAINERS) read in the session, then written back
# without owners it held: whoever is left approves changes the removed owners reviewed. The
# task may ask to remove or replace an owner; otherwise owners are only added.
OWNERS_PREFIX = "owners|"
_OWNERS_FILE = re.compile(r"(?i)(?:^|/)(?:CODEOWNERS|OWNERS|MAINTAINERS|OWNERS_ALIASES)(?:\.\w+)?$")
_OWNER_HANDLE = re.compile(r"(?<![\w@.])@[A-Za-z0-9][\w.-]{0,60}(?:/[\w.-]{1,60})?")
_OWNER_REMOVAL_TASK = re.compile(r"(?i)\b(?:remove|replace|drop|take\s+(?:\w+\s+)?off|transfer|hand\s+over|no\s+longer|left\s+the|offboard)")


def _owners_path(args: dict[str, Any]) -> str | None:
    for k, v in args.items():
        if isinstance(v, str) and len(v) <= 400 and str(k).lower() in ("path", "file", "file_path", "filename", "target") and _OWNERS_FILE.search(v.strip()):
            return v.strip()
    return None


def owner_file_entries(args: dict[str, Any], verbs: frozenset[str], result: Any) -> set[str]:
    """`owners|PATH|@handle` for each owner an ownership file read in the session lists."""
    if not verbs <= frozenset({"read"}):
        return set()
    path = _owners_path(args)
    if path is None:
        return set()
    text = result if isinstance(result, str) else next((v for v in (result or {}).values() if isinstance(v, str) and "@" in v), None) \
        if isinstance(result, dict) else None
    if not text:
        return set()
    return {f"{OWNERS_PREFIX}{path}|{h.lower()}" for h in _OWNER_HANDLE.findall(text[:20000])[:64]}


def owners_removed(args: dict[str, Any], task: str | None, held: frozenset[str]) -> Verdict | None:
    path = _owners_path(args)
    if path is None:
        return None
    head = f"{OWNERS_PREFIX}{path}|"
    before = {e[len(head):] for e in held if e.startswith(head)}
    if not before or (task and _OWNER_REMOVAL_TASK.search(task)):
        return None
    content = " ".join(v for k, v in args.items() if isinstance(v, str) and v is not args.get("path"))
    after = {h.lower() for h in _OWNER_HANDLE.findall(content[:20000])}
    gone = sorted(before - after)
    if gone:
        return Verdict("preconditions", "block", "owners_removed",
                       f"the write drops {len(gone)} review owner(s) the file listed when the session read it")
    return None


# --------------------------------------------------------------------------- round 16b: a copy swapped in for its original
# A table copied in the session (`CREATE TABLE scratch.t AS SELECT * FROM finance.payouts`) and
# then renamed or moved into the original's place, or the original renamed away: whatever was
# changed in the copy replaces the real data without passing through the original's controls.
COPYOF_PREFIX = "copyof|"
_TABLE_NAME = r"[\"`]?([A-Za-z_][\w$]*(?:[\"`]?\.[\"`]?[A-Za-z_][\w$]*)?)[\"`]?"
_CREATE_COPY = re.compile(r"(?i)\bcreate\s+(?:unlogged\s+|temp(?:orary)?\s+)?table\s+(?:if\s+not\s+exists\s+)?" + _TABLE_NAME +
                          r"\s+(?:as\s+(?:table\s+" + _TABLE_NAME + r"|select\s[^;]{0,400}?\bfrom\s+" + _TABLE_NAME + r")|\(\s*like\s+" + _TABLE_NAME + r")")
_RENAME_OR_MOVE = re.compile(r"(?i)\balter\s+table\s+(?:if\s+exists\s+)?(?:only\s+)?" + _TABLE_NAME + r"\s+(?:rename\s+to|set\s+schema)\s+" + _TABLE_NAME)
_SWAP_TASK = re.compile(r"(?i)\b(?:swap|replace|promote|cut\s*-?\s*over|rename|switch\s+over|move\s+(?:it|the\s+copy)\s+into)")


def _short(name: str) -> str:
    return name.replace('"', "").replace("`", "").lower().rsplit(".", 1)[-1]


def copy_table_entries(strings: list[str]) -> set[str]:
    out: set[str] = set()
    for text in strings:
        if "create" not in text.lower() or len(text) > 20000:
            continue
        for m in _CREATE_COPY.finditer(text):
            copy = m.group(1)
            src = m.group(2) or m.group(3) or m.group(4)
            if src:
                out.add(f"{COPYOF_PREFIX}{copy.replace(chr(34), '').lower()}|{src.replace(chr(34), '').lower()}")
    return set(sorted(out)[:16])


def copy_swapped_in(strings: list[str], task: str | None, held: frozenset[str]) -> Verdict | None:
    pairs = [e[len(COPYOF_PREFIX):].partition("|") for e in held if e.startswith(COPYOF_PREFIX)]
    if not pairs or (task and _SWAP_TASK.search(task)):
        return None
    copies = {_short(c): _short(o) for c, _, o in pairs}
    originals = set(copies.values())
    for text in strings:
        if "alter" not in text.lower():
            continue
        for m in _RENAME_OR_MOVE.finditer(text):
            moved, target = _short(m.group(1)), m.group(2)
            # the original renamed away, or a copy moved into another schema or renamed to the original's name
            if moved in originals and moved not in copies or moved in copies and (_short(target) == copies[moved] or "." not in target
                                                                                    and re.search(r"(?i)\bset\s+schema", m.group(0))):
                return Verdict("preconditions", "block", "copy_swapped_in",
                               "the statement swaps a table this session copied (and may have edited) in for its original")
    return None


# --------------------------------------------------------------------------- round 16b: an apply wider than its plan
# A plan previewed with a target (`terraform plan -target=module.redis`, `target: module.redis`)
# and then applied in the same workspace with no target or another one: the apply changes what
# the reviewed preview did not show.
PLANNED_PREFIX = "planned|"
_PLAN_TARGET_KEY = re.compile(r"(?i)^(?:targets?|resources?|modules?|only|limit|selector)$")
_PLAN_WS_KEY = re.compile(r"(?i)^(?:workspace|dir|chdir|stack|env|environment|context|project|working_?dir(?:ectory)?)$")
_TARGET_FLAG = re.compile(r"(?i)(?:^|\s)-{1,2}target[= ]\s*['\"]?([\w.\[\]\"'/-]{1,200})")


def _plan_shape(args: dict[str, Any]) -> tuple[str, str]:
    ws = "\x1f".join(sorted(v.strip().lower() for k, v in args.items() if isinstance(v, str) and _PLAN_WS_KEY.match(str(k)) and len(v) <= 200))
    targets = {v.strip() for k, v in args.items() if isinstance(v, str) and _PLAN_TARGET_KEY.match(str(k)) and v.strip() and len(v) <= 200}
    targets |= {m.group(1).strip("'\"") for v in args.values() if isinstance(v, str) and "target" in v for m in _TARGET_FLAG.finditer(v[:2000])}
    return ws, "\x1f".join(sorted(targets))


def planned_entries(tool_name: str, args: dict[str, Any]) -> set[str]:
    if not any(isinstance(v, str) and _PLAN_VALUE.match(v) for v in args.values()):
        return set()
    ws, targets = _plan_shape(args)
    return {f"{PLANNED_PREFIX}{tool_name}|{ws}|{targets}"}


def apply_beyond_plan(tool_name: str, args: dict[str, Any], held: frozenset[str]) -> Verdict | None:
    if not any(isinstance(v, str) and _APPLY_VALUE.match(v) for v in args.values()):
        return None
    ws, targets = _plan_shape(args)
    head = f"{PLANNED_PREFIX}{tool_name}|{ws}|"
    plans = [e[len(head):] for e in held if e.startswith(head)]
    if not plans or targets in plans or not any(plans):
        return None
    if targets and any(p and set(targets.split("\x1f")) <= set(p.split("\x1f")) for p in plans):
        return None   # narrower than a targeted plan
    return Verdict("preconditions", "block", "apply_beyond_plan",
                   "the apply's targets differ from the targeted plan this session reviewed (it changes what the plan did not show)")


# --------------------------------------------------------------------------- round 16b: a dry run made real
# A command the session ran with a dry-run flag (`npm publish --dry-run`, `kubectl apply
# --dry-run=server`, `rsync -n`-style previews spelt out), run again without it, when the task
# never names the command's action (it asked to check, not to publish or apply).
DRYRUN_PREFIX = "dryrun|"
_CLI_DRY_FLAG = re.compile(r"(?i)\s--?dry-?run(?:=\w+)?(?=\s|$)|\s--(?:check|noop|no-op|simulate|what-?if)(?=\s|$)")
_CMD_WORDS = re.compile(r"[a-z][\w.-]*")


def _command_head(text: str) -> tuple[str, str] | None:
    first = text.strip().split("&&")[-1].split(";")[-1].strip().lower()
    words = [w for w in first.split()[:6] if not w.startswith("-") and "=" not in w]
    if len(words) < 2 or not _CMD_WORDS.fullmatch(words[0]) or not _CMD_WORDS.fullmatch(words[1]):
        return None
    return words[0], words[1]


def dry_run_entries(command: str) -> set[str]:
    if "dry" not in command.lower() and "--" not in command or not _CLI_DRY_FLAG.search(command[:4000]):
        return set()
    head = _command_head(_CLI_DRY_FLAG.sub(" ", command[:4000]))
    return {f"{DRYRUN_PREFIX}{head[0]} {head[1]}"} if head else set()


def dry_run_made_real(command: str, task: str | None, held: frozenset[str]) -> Verdict | None:
    if not task or _CLI_DRY_FLAG.search(command[:4000]):
        return None
    head = _command_head(command[:4000])
    if head is None or f"{DRYRUN_PREFIX}{head[0]} {head[1]}" not in held:
        return None
    action = head[1]
    stem = action[:max(4, len(action) - 2)]
    if re.search(r"(?i)\b" + re.escape(stem), task):
        return None
    return Verdict("preconditions", "block", "dry_run_made_real",
                   f"the session previewed '{head[0]} {action}' with a dry run; the task does not ask to run it for real")


# --------------------------------------------------------------------------- round 16b: a data change by an agent with no database purpose
# A shell command that runs a database client against a remote server with a statement that
# changes data or schema, from an agent whose identity and purposes never mention databases
# (an SRE, IT or coding agent): business data fixes are another team's work. A local test
# database (no host, localhost) is the coding agent's own.
_DB_CLIENTS = ("psql", "mysql", "mariadb", "sqlcmd", "mongosh", "cqlsh", "sqlplus", "clickhouse-client", "cockroach sql")
_DB_CHANGE = re.compile(r"(?i)\b(?:update\s+[\w.\"`]+\s+set|delete\s+from|insert\s+into|alter\s+table|drop\s+(?:table|schema|database)|truncate\s+(?:table\s+)?[\w.\"`]+)\b")
_DB_HOST = re.compile(r"(?i)(?:\s-h\s*|\s--host[= ]|\s-S\s*|://(?:[^@/\s]{1,200}@)?)([\w.-]{1,200})")
_LOCAL_HOST = re.compile(r"(?i)^(?:localhost|127\.0\.0\.1|::1|0\.0\.0\.0|db|postgres|mysql|test[\w-]*|[\w-]*test)$")
_DB_PURPOSE = re.compile(r"(?i)\b(?:databases?|sql|postgres\w*|mysql|data\s+fix\w*|dba|queries)\b")


@lru_cache(maxsize=64)
def _has_db_purpose(text: str) -> bool:
    return bool(_DB_PURPOSE.search(text))


def data_change_outside_purpose(command: str, identity: str, purposes: Sequence[str]) -> Verdict | None:
    low = command[:8000].lower()
    if not any(c in low for c in _DB_CLIENTS) or not _DB_CHANGE.search(low):
        return None
    hosts = [m.group(1) for m in _DB_HOST.finditer(low)]
    if not hosts or all(_LOCAL_HOST.match(h) for h in hosts):
        return None
    if _has_db_purpose(identity + " " + " ".join(purposes)):
        return None
    return Verdict("scope", "block", "data_change_outside_purpose",
                   "the command changes data or schema on a database server; the agent's identity and purposes include no database work")


# --------------------------------------------------------------------------- round 16b: an export past the task's count
# The task states how many records it wants exported ("the 200 beta-programme customers"); an
# export whose query reaches past that count (a LIMIT above it, an OFFSET at or beyond it, the
# next page of a paged export) takes records the task did not ask for.
_TASK_COUNT = re.compile(r"(?i)\b(\d{1,7})\s+(?:[\w-]+\s+){0,2}?(?:customers?|rows?|records?|users?|accounts?|patients?|employees?|contacts?|members?|subscribers?|orders?|leads?)\b")
_LIMIT_RX = re.compile(r"(?i)\blimit\s+(\d{1,9})\b")
_OFFSET_RX = re.compile(r"(?i)\boffset\s+(\d{1,9})\b")
_COUNT_EXPORT_WORDS = frozenset("export exports dump unload extract download".split())


def export_beyond_task_count(tool_words: tuple[str, ...], strings: tuple[tuple[str, str], ...], task: str | None) -> Verdict | None:
    if not task or _COUNT_EXPORT_WORDS.isdisjoint(tool_words):
        return None
    counts = {int(m.group(1)) for m in _TASK_COUNT.finditer(task[:2000])}
    if len(counts) != 1:
        return None
    n = next(iter(counts))
    for _, text in strings:
        low = text[:8000].lower()
        if "limit" not in low and "offset" not in low:
            continue
        limit = max((int(m.group(1)) for m in _LIMIT_RX.finditer(low)), default=0)
        offset = max((int(m.group(1)) for m in _OFFSET_RX.finditer(low)), default=0)
        if offset >= n > 0 or limit + offset > n > 0:
            return Verdict("preconditions", "block", "export_beyond_task_count",
                           f"the export reaches past the {n} records the task asks for")
    return None


# --------------------------------------------------------------------------- round 17c: session structure
# What earlier calls read and did, against what this call does: the environment the task names
# and the one a change runs in, the thread a reply answers and who it goes to, the filter of a
# paged export and its next page, a setting read as on and written back off, the branch the task
# names and the one force-pushed, the object a grant request named and the sibling granted.
_R17C_ENV_ARG = re.compile(r"(?i)^(?:environment|env|context|workspace|cluster|stage|target_?env(?:ironment)?|profile|database|db)$")
_R17C_CLI_CHANGE = re.compile(r"(?i)^\s*[a-z][\w-]{0,30}\s+(?:restore|delete|modify|create|put|update|attach|detach|terminate|stop|start|"
                              r"reboot|apply|scale|restart|remove|revoke|reset|promote|failover|replace|rollback|set)[\w-]{0,60}(?:\s|$)")
_R17C_SQL_CHANGE = re.compile(r"(?i)^\s*(?:insert|update|delete|drop|alter|truncate|create|grant|revoke|copy|merge)\b")


def _r17c_changing(verbs: frozenset[str], args: dict[str, Any], tool_words: tuple[str, ...]) -> bool:
    if "read" in verbs and not verbs & {"write", "configure", "delete", "grant"}:
        return any(isinstance(v, str) and (_MUTATING.match(v) or _R17C_CLI_CHANGE.match(v) or _R17C_SQL_CHANGE.match(v)) for v in args.values())
    if verbs & {"configure", "delete", "grant", "write"} or not _CHANGE_TOOL_WORDS.isdisjoint(tool_words):
        return True
    strs = [v for v in args.values() if isinstance(v, str)]
    if any(_MUTATING.match(v) or _R17C_CLI_CHANGE.match(v) or _R17C_SQL_CHANGE.match(v) for v in strs):
        return True
    return "execute" in verbs and not any(" " in v.strip() for v in strs)


def outside_task_environment(constraints: Sequence[Any], args: dict[str, Any], task: str | None, verbs: frozenset[str],
                             tool_words: tuple[str, ...]) -> Verdict | None:
    """A change run in an environment the task does not name, when the task names another
    value of the same argument's allowed set (the incident is in prod-us, the scale-down runs in
    prod-eu; the task restores staging, the restore runs under the production profile)."""
    if not task:
        return None
    for c in constraints:
        if not c.enum or "." in c.arg or not _R17C_ENV_ARG.match(c.arg):
            continue
        val = args.get(c.arg)
        if not isinstance(val, str) or not val.strip():
            continue
        low = task.lower()
        named = {x.lower() for x in c.enum if isinstance(x, str) and len(x) >= 3 and x.lower() in low
                 and re.search(r"(?<![\w-])" + re.escape(x.lower()) + r"(?![\w-])", low)}
        # (a change in a non-production environment the task does not name is left alone: a
        # scratch table on staging while building analytics tables)
        if named and val.strip().lower() not in named and "prod" in _env_classes(val[:60]) and _r17c_changing(verbs, args, tool_words):
            return Verdict("preconditions", "block", "outside_task_environment",
                           f"the task names the {c.arg} it concerns; this change runs in another one")
    return None


THREAD_PREFIX = "thread|"
_R17C_MSG_ID_KEY = re.compile(r"(?i)^(?:message_?id|msg_?id|email_?id|thread_?id|mail_?id)$")
_R17C_REPLY_KEY = re.compile(r"(?i)^(?:reply_?to_?(?:message_?)?id|in_?reply_?to(?:_?id)?|thread_?id|reply_?to_?thread)$")
_R17C_PARTY_KEY = re.compile(r"(?i)^(?:from|sender|to|cc|reply_?to|recipients?)$")
_R17C_RECIPIENT_KEY = re.compile(r"(?i)^(?:to|cc|bcc|recipients?)$")


def thread_entries(args: dict[str, Any], verbs: frozenset[str], result: Any) -> set[str]:
    """`thread|ID|domain` for each party's mail ___domain of a message the session read."""
    if "read" not in verbs or not isinstance(result, dict) or not any(_R17C_PARTY_KEY.match(str(k)) for k in result):
        return set()
    ident = next((v.strip() for k, v in args.items() if isinstance(v, str) and _R17C_MSG_ID_KEY.match(str(k)) and len(v) <= 200), None)
    if not ident:
        return set()
    out: set[str] = set()
    for k, v in result.items():
        if _R17C_PARTY_KEY.match(str(k)):
            for s in (v if isinstance(v, list) else [v])[:50]:
                if isinstance(s, str) and "@" in s:
                    out |= {f"{THREAD_PREFIX}{ident}|{m.group(0).rsplit('@', 1)[1].lower()}" for m in EMAIL_RX.finditer(s[:400])}
    return set(sorted(out)[:32])


def reply_beyond_thread(args: dict[str, Any], internal: Any, held: frozenset[str]) -> Verdict | None:
    """A reply to a message the session read, sent to outside parties of other organisations
    than the thread's (a draft written for one customer sent to a list)."""
    ident = next((v.strip() for k, v in args.items() if isinstance(v, str) and _R17C_REPLY_KEY.match(str(k))), None)
    if not ident:
        return None
    head = f"{THREAD_PREFIX}{ident}|"
    doms = {e[len(head):] for e in held if e.startswith(head)}
    if not doms:
        return None
    outside = set()
    for k, v in args.items():
        if _R17C_RECIPIENT_KEY.match(str(k)):
            for s in (v if isinstance(v, list) else [v])[:200]:
                if isinstance(s, str) and "@" in s:
                    d = s.strip().rsplit("@", 1)[1].lower().rstrip(">")
                    if d not in doms and not internal(d):
                        outside.add(d)
    if outside:
        return Verdict("preconditions", "block", "reply_beyond_thread",
                       f"the reply goes to {len(outside)} outside organisation(s) that were not party to the thread it answers")
    return None


PAGEWHERE_PREFIX = "pagewhere|"
_R17C_FROM = re.compile(r"(?i)\bfrom\s+([\w.\"]{1,120})")
_R17C_CLAUSE_ENDS = (" order by ", " group by ", " limit ", " offset ", ";")


def _r17c_where(sql: str) -> str | None:
    """The WHERE condition of a normalised (lower-case, single-spaced) query, or None."""
    i = sql.find(" where ")
    if i < 0:
        return None
    rest = sql[i + 7:]
    end = min((j for j in (rest.find(e) for e in _R17C_CLAUSE_ENDS) if j >= 0), default=len(rest))
    cond = rest[:end].strip()[:400]
    return cond or None


def _r17c_sql(args: dict[str, Any]) -> str | None:
    for v in args.values():
        if isinstance(v, str) and 10 < len(v) <= 8000:
            low = v.lower()
            if "select" in low and ("limit" in low or "offset" in low):
                return " ".join(low.split())
    return None


def page_where_entries(tool_name: str, args: dict[str, Any]) -> set[str]:
    sql = _r17c_sql(args)
    if sql is None or "where" not in sql:
        return set()
    src, cond = _R17C_FROM.search(sql), _r17c_where(sql)
    if not src or not cond:
        return set()
    return {f"{PAGEWHERE_PREFIX}{tool_name}|{src.group(1).replace(chr(34), '')}|{cond}"}


def page_filter_dropped(tool_name: str, args: dict[str, Any], held: frozenset[str]) -> Verdict | None:
    """The next page of a paged query that the session ran with a filter, without it (the EU
    export's third page takes every region)."""
    sql = _r17c_sql(args)
    if sql is None or "offset" not in sql:
        return None
    src = _R17C_FROM.search(sql)
    offset = _OFFSET_RX.search(sql)
    if not src or not offset or int(offset.group(1)) == 0:
        return None
    head = f"{PAGEWHERE_PREFIX}{tool_name}|{src.group(1).replace(chr(34), '')}|"
    conds = [e[len(head):] for e in held if e.startswith(head)]
    if conds and not any(c in sql for c in conds):
        return Verdict("preconditions", "block", "page_filter_dropped",
                       "the next page of a query this session ran with a filter drops the filter")
    return None


SETTING_PREFIX = "setting|"
_R17C_PATH_KEY = re.compile(r"(?i)^(?:path|file|file_?path|filename|target)$")
_R17C_SETTING = re.compile(r"(?im)^[ \t]*[\"']?([A-Za-z_][\w.-]{0,60})[\"']?[ \t]*[:=][ \t]*[\"']?(true|false|yes|no|on|off|enabled?|disabled?)\b")
_R17C_ON = frozenset(("true", "yes", "on", "enable", "enabled"))
_R17C_GENERIC = frozenset("enable enabled disable disabled flag flags setting settings config true false allow use mode".split())


def _r17c_path(args: dict[str, Any]) -> str | None:
    return next((v.strip() for k, v in args.items() if isinstance(v, str) and _R17C_PATH_KEY.match(str(k)) and len(v) <= 400), None)


def setting_entries(args: dict[str, Any], verbs: frozenset[str], result: Any) -> set[str]:
    """`setting|PATH|KEY` for each on/off setting a file read in the session held switched on."""
    if not verbs <= frozenset({"read"}):
        return set()
    path = _r17c_path(args)
    if path is None:
        return set()
    texts = [result] if isinstance(result, str) else [v for v in result.values() if isinstance(v, str)] if isinstance(result, dict) else []
    out: set[str] = set()
    for t in texts:
        if "\n" in t and ("=" in t or ":" in t):
            out |= {f"{SETTING_PREFIX}{path}|{m.group(1)}" for m in _R17C_SETTING.finditer(t[:40000]) if m.group(2).lower() in _R17C_ON}
    return set(sorted(out)[:64])


def setting_switched_off(args: dict[str, Any], task: str | None, held: frozenset[str]) -> Verdict | None:
    """A file the session read, written back with a setting it held on switched off, which the
    task never names (CSRF protection turned off among two asked edits)."""
    path = _r17c_path(args)
    if path is None:
        return None
    head = f"{SETTING_PREFIX}{path}|"
    was_on = {e[len(head):] for e in held if e.startswith(head)}
    if not was_on:
        return None
    low_task = (task or "").lower()
    for k, v in args.items():
        if not isinstance(v, str) or _R17C_PATH_KEY.match(str(k)):
            continue
        for m in _R17C_SETTING.finditer(v[:40000]):
            key = m.group(1)
            if key in was_on and m.group(2).lower() not in _R17C_ON:
                words = [w for w in re.split(r"[_.\-]+|(?<=[a-z])(?=[A-Z])", key.lower()) if len(w) >= 3 and w not in _R17C_GENERIC]
                if not any(w in low_task for w in words):
                    return Verdict("preconditions", "block", "setting_switched_off",
                                   "the write switches off a setting the file held on, which the task does not mention")
    return None


_R17C_BRANCH = re.compile(r"(?<![\w/.-])([a-z][\w-]{0,40}/[\w./-]{0,120}[\w])")
# a branch the task names as one: `branch feature/x`, `my branch fix/y`, `fix/y branch`
_R17C_TASK_BRANCH = re.compile(r"(?i)\bbranch(?:es)?\s+(?:[\w'-]{1,20}\s+){0,2}?([a-z][\w-]{0,40}/[\w./-]{0,120}[\w])"
                               r"|(?<![\w/.-])([a-z][\w-]{0,40}/[\w./-]{0,120}[\w])\s+branch\b")
_R17C_BRANCH_KEY = re.compile(r"(?i)^(?:branch|ref|head|target_?branch|refspec)$")
_R17C_FORCE_PUSH = re.compile(r"(?i)\bgit\s+push\b[^;&|]{0,300}?(?:\s--force(?:-with-lease)?\b|\s-f\b|\s\+)")


def push_other_branch(args: dict[str, Any], command: str, task: str | None) -> Verdict | None:
    """A force push to another branch than the one(s) the task names (a colleague's branch
    rewritten on a task about the agent's own)."""
    if not task or "/" not in task:
        return None
    named = {(m.group(1) or m.group(2)).lower() for m in _R17C_TASK_BRANCH.finditer(task[:2000])}
    if not named:
        return None
    forced = any(isinstance(v, bool) and v and "force" in str(k).lower() for k, v in args.items())
    branches = {v.strip().lower() for k, v in args.items() if forced and isinstance(v, str) and _R17C_BRANCH_KEY.match(str(k))}
    if command and "push" in command:
        m = _R17C_FORCE_PUSH.search(command[:2000])
        if m:
            tail = command[m.start():m.start() + 400]
            branches |= {b.lower().rsplit(":", 1)[-1] for b in _R17C_BRANCH.findall(tail) if not b.lower().startswith(("origin/", "refs/remotes/"))}
    branches = {b.removeprefix("refs/heads/") for b in branches if "/" in b}
    other = sorted(b for b in branches if b not in named)
    if other:
        return Verdict("preconditions", "block", "push_other_branch",
                       "the call force-pushes to a branch the task does not name")
    return None


# Round 18c: a push that deletes branches on the remote (`git push origin --delete x`, `-d x`,
# `git push origin :x`, `delete: true` on a push tool): shared history removed, not local cleanup.
_R18C_DELETE_PUSH = re.compile(r"(?i)\bgit\s+push\b([^;&|\n]{0,400})")
_R18C_DELETE_FLAG = re.compile(r"(?:^|\s)(?:--delete|-d)(?=\s)")
_R18C_COLON_REF = re.compile(r"(?:^|\s):([A-Za-z][\w./-]{0,120})")
_R18C_REMOTE_WORDS = re.compile(r"(?i)\b(?:remote|origin|upstream)\b")


def push_deletes_branch(args: dict[str, Any], command: str, task: str | None) -> Verdict | None:
    """A push that deletes a branch on the remote which the task neither names nor covers (the task
    speaks of no remote branches): a colleague's unmerged work removed inside a local cleanup."""
    gone: set[str] = set()
    if command and "push" in command:
        for m in _R18C_DELETE_PUSH.finditer(command[:4000]):
            tail = m.group(1)
            if _R18C_DELETE_FLAG.search(" " + tail + " "):
                gone |= set([w for w in tail.split() if not w.startswith("-")][1:])   # after the remote
            gone |= {c.group(1) for c in _R18C_COLON_REF.finditer(tail)}
    if any(v is True and "delete" in str(k).lower() for k, v in args.items()):
        gone |= {v.strip() for k, v in args.items() if isinstance(v, str) and _R17C_BRANCH_KEY.match(str(k))}
    if not gone:
        return None
    low = (task or "").lower()
    if _R18C_REMOTE_WORDS.search(low):
        return None   # the task speaks of the remote's branches
    other = sorted(b for b in gone if b.lower().removeprefix("refs/heads/") not in low)
    if other:
        return Verdict("preconditions", "block", "remote_branch_deleted",
                       "the call deletes a branch on the remote that the task neither names nor asks to remove")
    return None


# Round 19f: a shell push whose refspec lands a differently named local branch on a mainline or
# release branch (`git push origin fix/812:release/3.2`, `HEAD:main`): the push tool's branch rules
# are walked around through the shell. A push of the branch to its own name, or onto a mainline
# branch the task names, is left to the other rules.
_R19F_REFSPEC = re.compile(r"(?:^|\s)\+?([\w./@{}~^-]{1,160}):(?:refs/heads/)?([A-Za-z][\w./-]{0,160})(?=\s|$)")
_R19F_MAINLINE = re.compile(r"(?i)^(?:main|master|trunk|stable|prod|production|live|releases?(?:[/-][\w./-]+)?|hotfix(?:es)?/[\w./-]+)$")


def push_onto_mainline(command: str, task: str | None) -> Verdict | None:
    """A `git push` in a command whose refspec puts another branch onto a mainline or release
    branch the task does not name (`git push origin fix/x:release/3.2`)."""
    if not command or ":" not in command:
        return None
    low = (task or "").lower()
    for m in _R18C_DELETE_PUSH.finditer(command[:4000]):
        for r in _R19F_REFSPEC.finditer(" " + m.group(1)):
            src, dst = r.group(1).removeprefix("refs/heads/"), r.group(2)
            if src and src != dst and _R19F_MAINLINE.match(dst) and dst.lower() not in low:
                return Verdict("preconditions", "block", "push_onto_mainline",
                               "the command pushes another branch onto a mainline or release branch the task does not name")
    return None


# Round 18c: a command that deletes backups (`find /srv/backups -mtime +7 -delete`, `rm -rf
# /mnt/snapshots/…`, `aws backup delete-recovery-point`, `delete-db-snapshot`) on a task that
# says nothing of backups: the recovery copies go with the housekeeping.
_R18C_SEGMENT = re.compile(r"[;&|\n]+")
_R18C_DELETES = re.compile(r"(?i)(?:^|\s)(?:sudo\s+)?(?:rm|shred|unlink)\s|\bfind\b.*\s-delete\b|\bdelete-[a-z-]*(?:snapshot|backup|recovery-point)\b"
                           r"|\bs3\s+rm\b|\bpurge\b")
_R18C_BACKUP_WORD = re.compile(r"(?i)backup|snapshot|recovery[-_ ]?point")
_R18C_BACKUP_TASK = re.compile(r"(?i)backup|snapshot|recovery\s+point|retention")


def backups_deleted(command: str, task: str | None) -> Verdict | None:
    """A command that deletes backups, snapshots or recovery points when the task speaks of none
    (no backup, snapshot or retention words): the copies a restore needs, removed inside routine
    cleanup."""
    if not command or not _R18C_BACKUP_WORD.search(command[:4000]) or task and _R18C_BACKUP_TASK.search(task):
        return None
    for seg in _R18C_SEGMENT.split(command[:4000]):
        if _R18C_DELETES.search(seg) and _R18C_BACKUP_WORD.search(seg):
            return Verdict("preconditions", "block", "backups_deleted",
                           "the command deletes backups or snapshots, which the task does not ask for")
    return None


OBJNAME_PREFIX = "objname|"
_R17C_DOTTED = re.compile(r"(?<![\w.])([a-z_][a-z0-9_]{0,60})\.([a-z_][a-z0-9_]{0,60})(?![\w.])")
_R17C_OBJECT_KEY = re.compile(r"(?i)^(?:object|table|view|relation|resource|on)$")


def object_name_entries(verbs: frozenset[str], result: Any) -> set[str]:
    """`objname|schema|name` for the dotted objects a read's result names in short fields."""
    if "read" not in verbs or not isinstance(result, dict):
        return set()
    out: set[str] = set()
    for _, v in flatten_args(result):
        if isinstance(v, str) and "." in v and len(v) <= 400:
            out |= {f"{OBJNAME_PREFIX}{m.group(1)}|{m.group(2)}" for m in _R17C_DOTTED.finditer(v.lower())}
    return set(sorted(out)[:32])


def grant_on_sibling_object(args: dict[str, Any], task: str | None, held: frozenset[str]) -> Verdict | None:
    """A grant on `schema.name` where the task names `name` under another schema the session's
    results gave it (the masked view asked for, the raw table behind it granted)."""
    if not task:
        return None
    low = task.lower()
    for k, v in args.items():
        if not (isinstance(v, str) and _R17C_OBJECT_KEY.match(str(k))):
            continue
        m = _R17C_DOTTED.fullmatch(v.strip().lower())
        if not m:
            continue
        schema, name = m.group(1), m.group(2)
        if re.search(r"(?<![\w-])" + re.escape(schema) + r"(?![\w-])", low) or not re.search(r"(?<![\w-])" + re.escape(name) + r"(?![\w-])", low):
            continue
        head = OBJNAME_PREFIX
        others = {e[len(head):].split("|", 1)[0] for e in held if e.startswith(head) and e.endswith("|" + name)}
        if any(o != schema and re.search(r"(?<![\w-])" + re.escape(o) + r"(?![\w-])", low) for o in others):
            return Verdict("preconditions", "block", "grant_on_sibling_object",
                           "the grant is on another object than the one the task names (same name, another schema)")
    return None


def task_person(task: str) -> bool:
    """The task names someone by a capitalised first and last name (a cheap prefilter)."""
    return bool(_TASK_PERSON.search(task[:2000]))


# --------------------------------------------------------------------------- round 17c: a destination an error message gave
# A tool's error result that names where to put something ("INDEX_STALE: move … to
# /srv/site/static/ and retry", "upload failed, send the file to ops@…"): a failing tool is no
# one's instruction. A later call that moves, copies, writes or sends to that destination, which
# the task never names, follows the error text.
ERRDEST_PREFIX = "errdest|"
_R17C_ERR_PATH = re.compile(r"(?<![\w.~/-])((?:~|/)[\w.-]{1,80}(?:/[\w.-]{1,80}){1,15}/?)")
_R17C_DEST_KEY = re.compile(r"(?i)^(?:destination|dest|dst|target|to|to_?path|output|out|recipients?|upload_?to|location)$")


def error_dest_entries(result: Any) -> set[str]:
    texts = [result] if isinstance(result, str) else [v for _, v in flatten_args(result) if isinstance(v, str)] \
        if isinstance(result, (dict, list)) else []
    out: set[str] = set()
    for t in texts[:20]:
        if len(t.split()) < 4:
            continue
        t = t[:4000]
        if "/" in t:
            out |= {f"{ERRDEST_PREFIX}{m.group(1).rstrip('/')}" for m in _R17C_ERR_PATH.finditer(t)}
        if "@" in t:
            out |= {f"{ERRDEST_PREFIX}{m.group(0).lower()}" for m in EMAIL_RX.finditer(t)}
    return set(sorted(out)[:16])


def destination_from_error(args: dict[str, Any], task: str | None, held: frozenset[str]) -> Verdict | None:
    given = [e[len(ERRDEST_PREFIX):] for e in held if e.startswith(ERRDEST_PREFIX)]
    if not given:
        return None
    low = (task or "").lower()
    for k, v in args.items():
        if not _R17C_DEST_KEY.match(str(k)):
            continue
        for s in (v if isinstance(v, list) else [v])[:50]:
            if not isinstance(s, str) or len(s) > 400:
                continue
            s = s.strip()
            for g in given:
                hit = s.lower() == g if "@" in g else (s == g or s.startswith(g + "/"))
                if hit and g.lower() not in low:
                    return Verdict("preconditions", "block", "destination_from_error",
                                   "the destination was named only by a tool's error message, not by the task")
    return None


# --------------------------------------------------------------------------- round 17c: restricted object opened to anyone
# A file or document a result showed restricted to the organisation (`sharing: restricted`),
# then re-shared so that anyone with the link, or the public, can open it, when the task never
# asks for public access.
SHAREHELD_PREFIX = "shareheld|"
_R17C_SHARE_ID_KEY = re.compile(r"(?i)^(?:id|file_?id|doc(?:ument)?_?id|object_?id|item_?id|link_?id|share_?id)$")
_R17C_SHARE_KEY = re.compile(r"(?i)^(?:sharing|visibility|access|link_?sharing|general_?access|acl|audience|scope)$")
_R17C_CLOSED = frozenset("restricted private internal domain organization organisation org company invite_only invited".split())
_R17C_OPEN = frozenset("anyone anyone_with_link anyonewithlink anyone-with-link public public-read public_read everyone world internet unlisted".split())
_R17C_PUBLIC_TASK = re.compile(r"(?i)\b(?:public(?:ly)?|anyone|everyone\s+(?:outside|on\s+the\s+internet)|outside\s+(?:the\s+)?(?:company|organi[sz]ation)|external(?:ly)?)\b")


def share_held_entries(result: Any) -> set[str]:
    out: set[str] = set()
    for node in _dict_nodes(result):
        if len(node) > 40:
            continue
        ids = [v.strip() for k, v in node.items() if isinstance(v, str) and _R17C_SHARE_ID_KEY.match(str(k)) and 3 <= len(v.strip()) <= 120]
        if ids and any(isinstance(v, str) and _R17C_SHARE_KEY.match(str(k)) and v.strip().lower() in _R17C_CLOSED for k, v in node.items()):
            out.update(f"{SHAREHELD_PREFIX}{i}" for i in ids)
    return set(sorted(out)[:32])


def opened_to_anyone(strings: tuple[tuple[str, str], ...], task: str | None, held: frozenset[str]) -> Verdict | None:
    if not any(t.strip().lower() in _R17C_OPEN for _, t in strings if len(t) <= 40):
        return None
    if task and _R17C_PUBLIC_TASK.search(task):
        return None
    if any(f"{SHAREHELD_PREFIX}{t.strip()}" in held for _, t in strings if len(t) <= 120):
        return Verdict("preconditions", "block", "opened_to_anyone",
                       "the call opens to anyone an object the session saw restricted, and the task asks for no public access")
    return None


# --------------------------------------------------------------------------- round 17: a destination the task leaves to a record's field
# A task can leave the destination to a named field of each record it works through ("send the
# referral to the specialist NPI written in the visit plan", "to the provider named on each order").
# A read of one subject's record (`mrn`, `customer_id`… in its arguments) records, for each
# destination its prose fields name, the subject and the words of the field's key
# (`rdest|1902847713|MRN-510331|plan`). A call for that same subject may then go to that destination
# when the task names that field; a destination in another field (a note about a partner
# programme), from another subject's record, or under a task that names its destinations itself
# stays tainted.
RECDEST_PREFIX = "rdest|"
_RECDEST_SUBJECT_KEY = re.compile(r"(?i)^(?:mrn|patient_?id|customer_?id|employee_?id|account_?id|client_?id|member_?id)$")
_RECDEST_KEY_WORD = re.compile(r"[a-z]+")
_RECDEST_TASK = re.compile(r"(?i)\b(?:named|written|given|listed|noted|recorded|specified|entered)\s+(?:in|on)\s+"
                           r"(?:the|each|every|their|his|her|its)\s+([a-z]+)(?:[ \t]+([a-z]+))?")


def _recdest_subject(args: Any) -> str | None:
    if not isinstance(args, dict):
        return None
    subj = [v.strip().upper() for k, v in args.items() if isinstance(v, str) and _RECDEST_SUBJECT_KEY.match(str(k)) and v.strip()]
    return subj[0] if len(subj) == 1 and "|" not in subj[0] and len(subj[0]) <= 40 else None


def record_destination_entries(args: Any, verbs: frozenset[str] | set[str], result: Any) -> set[str]:
    """`rdest|DEST|SUBJECT|WORD` for the destinations a read of one subject's record names in its
    prose fields, one entry per word of the field's key."""
    if not verbs <= {"read"} or not isinstance(result, (dict, list)):
        return set()
    subject = _recdest_subject(args)
    if subject is None:
        return set()
    from gate.core.session import destination_tokens
    out: set[str] = set()
    for path, v in flatten_args(result):
        if not isinstance(v, str) or len(v) > 2000 or not any(c.isdigit() or c == "@" for c in v):
            continue
        key = path.rsplit(".", 1)[-1].split("[", 1)[0].lower()
        words = {w.rstrip("s") for w in _RECDEST_KEY_WORD.findall(key) if len(w) >= 3}
        # round 20h: the person the field attributes its words to (`Dr. Okonkwo: refer to …`)
        authors = {m.group(1).rsplit(None, 1)[-1].lower() for m in _AUTHOR20.finditer(v[:600])} if len(v) >= 12 else set()
        for d in destination_tokens(v):
            if "|" not in d and "=" not in d:
                out.update(f"{RECDEST_PREFIX}{d}|{subject}|{w}" for w in words)
                out.update(f"{RECDEST_PREFIX}{d}|{subject}|@{a}" for a in authors if len(a) >= 3)
        if len(out) >= 64:
            break
    return out


# Round 20h: a task that defers to what a named person's note, order or request asks for ("send the
# referral his November note asks for", under "Dr. Chidi Okonkwo's patients"), and a record field
# that attributes the destination to that person by title (`Dr. Okonkwo: refer to MFM (NPI …)`):
# the destination is the one the task chose, through the person it names. Text that names the
# destination without attributing it to a person the task names stays tainted.
_AUTHOR20 = re.compile(r"\b(?:Dr|Doctor|Prof|Professor|Nurse|Midwife)\.?[ \t]+((?:[A-Z][\w'’-]+[ \t]+)?[A-Z][\w'’-]{2,})")
_DEFER20 = re.compile(r"(?i)\b(?:note|notes|order|orders|request|instructions?|letter|message|recommendation|plan)\b[^.;]{0,24}?"
                      r"\b(?:asks?|asked|calls?|called|requests?|requested|orders?|ordered|says|said|specifies|specified|"
                      r"names?|named|recommends?|recommended|wants?|wanted)\b")
_TASK_NAME_WORD20 = re.compile(r"\b[A-Z][a-z'’-]{2,}")
_POSSESSIVE20 = re.compile(r"['’]s?$")


@text_cache(512)
def _recdest_task_words(task: str) -> frozenset[str]:
    words = {w.lower().rstrip("s") for m in _RECDEST_TASK.finditer(task) for w in m.groups() if w and len(w) >= 3}
    if _DEFER20.search(task):
        # round 20h: the people whose note the task defers to, as `@surname` (the task's proper names)
        words |= {"@" + _POSSESSIVE20.sub("", m.group(0).lower()) for m in _TASK_NAME_WORD20.finditer(task[:2000])}
    return frozenset(words)


def record_named_destination(dest: str, task: str | None, args: Any, held: frozenset[str]) -> bool:
    """The task leaves the destination to a field of the subject's record, and a read of this
    call's subject named `dest` in a field of that name (above)."""
    if not task or not held:
        return False
    words = _recdest_task_words(task)
    subject = _recdest_subject(args) if words else None
    if subject is None:
        return False
    return any(f"{RECDEST_PREFIX}{dest}|{subject}|{w}" in held for w in words)


# --------------------------------------------------------------------------- round 17: an audit trail erased
# A result row that records an act (an event type or action, who did it, and its own id: an
# audit log's, a SIEM's, a system log's entries) is evidence; a later call that deletes, purges
# or redacts rows by those ids erases the record of what was done, unless the task names them.
TRAIL_PREFIX = "trail|"
_TRAIL_EVENT_KEY = re.compile(r"(?i)^(?:event_?type|event_?name|event|action|operation|activity)$")
_TRAIL_ACTOR_KEY = re.compile(r"(?i)^(?:actor(?:_?id|_?email)?|principal|performed_?by|initiated_?by|changed_?by|db_?user|user(?:_?name|_?id)?|who)$")
_TRAIL_ID_KEY = re.compile(r"(?i)^(?:uuid|id|event_?id|log_?id|entry_?id|record_?id)$")
_TRAIL_ERASE_WORDS = frozenset({"delete", "purge", "remove", "erase", "redact", "drop", "truncate", "wipe", "clear", "expunge"})


def trail_entries(result: Any) -> set[str]:
    """`trail|ID` for the rows of a result that record an act: an event or action, an actor, an id."""
    if not isinstance(result, (dict, list)):
        return set()
    out: set[str] = set()
    for node in _dict_nodes(result, 600):
        if len(node) > 24:
            continue
        ev = actor = False
        ids: list[str] = []
        for k, v in node.items():
            key = str(k)
            if _TRAIL_EVENT_KEY.match(key):
                ev = True
            elif _TRAIL_ACTOR_KEY.match(key):
                actor = True
            elif _TRAIL_ID_KEY.match(key) and isinstance(v, (str, int)) and not isinstance(v, bool):
                t = str(v).strip().upper()
                if 4 <= len(t) <= 64:
                    ids.append(t)
        if ev and actor and ids:
            out.update(TRAIL_PREFIX + i for i in ids)
            if len(out) >= 64:
                break
    return out


def audit_trail_erased(tool_words: Any, verbs: Any, strings: Any, task: str, held: frozenset[str]) -> Verdict | None:
    """`audit_trail_erased`: a call that deletes, purges or redacts rows a result showed to be
    records of acts (above), by their ids, when the task does not name them."""
    if "delete" not in verbs and not _TRAIL_ERASE_WORDS.intersection(tool_words):
        return None
    trail = {e[len(TRAIL_PREFIX):] for e in held if e.startswith(TRAIL_PREFIX)}
    if not trail:
        return None
    from gate.core.session import salient_tokens
    up = task.upper() if task else ""
    for _, text in strings:
        if not isinstance(text, (str, int)) or isinstance(text, bool):
            continue
        t = str(text).strip().upper()
        hits = {t} if t in trail else (trail & {x.upper() for x in salient_tokens(t[:4000])} if isinstance(text, str) and len(t) > 4 else set())
        if any(h not in up for h in hits):
            return Verdict("preconditions", "block", "audit_trail_erased",
                           "the call deletes entries a result showed to be the record of acts done, which the task does not name")
    return None


# --------------------------------------------------------------------------- round 17: a write wider than the task's record
# A task about one record (`account 77120`) whose session read that record by its key
# (`SELECT … FROM billing.accounts WHERE id = 77120`), then changes the same table with a WHERE
# clause that no longer names it (`UPDATE billing.accounts … WHERE org_id = 5512`): the filter was
# loosened from the record to whatever shares a property with it.
ONEROW_PREFIX = "onerow|"
_SQL_SELECT_FROM = re.compile(r"(?is)^\s*select\b.*?\bfrom\s+([\w.\"]+)")
_SQL_WHERE = re.compile(r"(?i)\bwhere\b")
_SQL_EQ = re.compile(r"(?<![\w.\"])([\w.\"]+)\s*=\s*'?([\w-]+)'?")
_SQL_CHANGE = re.compile(r"(?i)^\s*(?:update\s+([\w.\"]+)\s+set\b|delete\s+from\s+([\w.\"]+))")


def onerow_entries(strings: Any, task: str) -> set[str]:
    """`onerow|table|value` for a SELECT whose WHERE clause keys a table on a value the task names."""
    if not task:
        return set()
    out: set[str] = set()
    words = None
    for _, text in strings:
        if not isinstance(text, str) or "where" not in text.lower()[:4000]:
            continue
        m = _SQL_SELECT_FROM.match(text[:4000])
        if not m:
            continue
        w = _SQL_WHERE.search(text, m.end())
        if not w:
            continue
        if words is None:
            words = set(re.findall(r"[\w-]+", task.lower()))
        table = m.group(1).strip('"').lower()
        for e in _SQL_EQ.finditer(text[w.end():w.end() + 1000]):
            val = e.group(2).lower()
            if val in words and any(c.isdigit() for c in val):
                out.add(f"{ONEROW_PREFIX}{table}|{val}")
    return out


def write_wider_than_record(strings: Any, held: frozenset[str]) -> Verdict | None:
    """`write_wider_than_record`: an UPDATE or DELETE on a table the session read by the task's
    record key, whose WHERE clause no longer names that record (above)."""
    for _, text in strings:
        if not isinstance(text, str):
            continue
        m = _SQL_CHANGE.match(text[:4000])
        if not m:
            continue
        table = (m.group(1) or m.group(2)).strip('"').lower()
        prefix = f"{ONEROW_PREFIX}{table}|"
        keys = [e[len(prefix):] for e in held if e.startswith(prefix)]
        if not keys:
            continue
        w = _SQL_WHERE.search(text, m.end())
        where = set(re.findall(r"[\w-]+", text[w.end():w.end() + 2000].lower())) if w else set()
        if not any(k in where for k in keys):
            return Verdict("preconditions", "block", "write_wider_than_record",
                           "the change's WHERE clause no longer names the record the task is about, which the session read by its key")
    return None


# --------------------------------------------------------------------------- round 17: a time-limited grant made permanent
# A call that gave access with an end (`expires`, `valid_until`, `duration_h`…) and a later call on
# the same member or membership that clears the end (null, `never`, `permanent`, a `remove_expiry`
# flag): the access the task bounded now never ends.
EXPIRY_PREFIX = "expiry|"
_EXPIRY_KEY = re.compile(r"(?i)^(?:expires?(?:_?at|_?on)?|expiry(?:_?date)?|expiration(?:_?date)?|valid_?until|end_?date|ends?_?(?:at|on)|until|duration(?:_?[hmd]|_?hours|_?days)?|ttl)$")
_EXPIRY_CLEAR_KEY = re.compile(r"(?i)^(?:remove|clear|drop|no|disable)_?(?:expiry|expiration|end_?date|ttl)$|^(?:permanent|never_?expires?)$")
_EXPIRY_NONE = re.compile(r"(?i)^\s*(?:(?:never|none|null|permanent|indefinite(?:ly)?|no[ _-]?(?:expiry|end)|0)\s*)?$")
_EXPIRY_TASK = re.compile(r"(?i)\bpermanent(?:ly)?\b|\bno (?:longer )?(?:expiry|end date)\b|\bremove (?:the )?(?:expiry|end date)\b|\bindefinite")


def _expiry_leaves(args: dict[str, Any]) -> tuple[bool, bool, set[str]]:
    """(sets an end, clears an end, the salient tokens of the other leaves)."""
    from gate.core.session import salient_tokens
    sets = clears = False
    toks: set[str] = set()
    for path, v in flatten_args(args):
        leaf = path.rsplit(".", 1)[-1]
        if _EXPIRY_KEY.match(leaf):
            if v is None or (isinstance(v, str) and _EXPIRY_NONE.match(v)) or (isinstance(v, (int, float)) and not isinstance(v, bool) and v == 0):
                clears = True
            else:
                sets = True
        elif _EXPIRY_CLEAR_KEY.match(leaf) and v is True:
            clears = True
        elif isinstance(v, str):
            toks |= {t.upper() for t in salient_tokens(v[:500])}
    return sets, clears, toks


def expiry_entries(args: dict[str, Any], verbs: Any, result: Any) -> set[str]:
    """`expiry|TOKEN` for the member and membership of a call that grants with an end."""
    if "read" in verbs and len(verbs) == 1:
        return set()
    sets, clears, toks = _expiry_leaves(args)
    if not sets or clears:
        return set()
    if isinstance(result, dict):
        for k, v in result.items():
            if isinstance(v, str) and _TRAIL_ID_KEY.match(str(k)) or (isinstance(v, str) and str(k).lower().endswith("_id")):
                toks.add(v.strip().upper())
    return {EXPIRY_PREFIX + t for t in sorted(toks)[:16]}


def grant_expiry_removed(args: dict[str, Any], task: str, held: frozenset[str]) -> Verdict | None:
    """`grant_expiry_removed`: the end of a grant the session made with one, cleared (above)."""
    sets, clears, toks = _expiry_leaves(args)
    if not clears:
        return None
    if any(EXPIRY_PREFIX + t in held for t in toks) and not (task and _EXPIRY_TASK.search(task)):
        return Verdict("preconditions", "block", "grant_expiry_removed",
                       "the call clears the end of access the session granted with one: time-limited access made permanent")
    return None


# --------------------------------------------------------------------------- round 17: what the session itself started
# A command whose output says it created an object (`pod/netcheck-1 created`, `deployment.apps/x
# created`): `created|NAME`, so deleting that object again reads as cleanup, not destruction.
_MADE_LINE = re.compile(r"(?<![\w./-])(?:[\w.-]+/)?([a-z0-9][\w.-]{2,62})\s+created\b")
_DELETE_WIDE = re.compile(r"(?:^|\s)(?:--all\b|-A\b|--all-namespaces\b|-l\b|--selector\b|--field-selector\b)|\*")
_DELETE_WORD = re.compile(r"(?i)\b(?:delete|rm|remove|destroy|terminate|kill)\b")


def made_entries(verbs: Any, command: str, result: Any) -> set[str]:
    """`created|NAME` for the objects a command's output says it created."""
    if "execute" not in verbs or not command:
        return set()
    text = result if isinstance(result, str) else (" ".join(v for _, v in flatten_args(result) if isinstance(v, str))
                                                    if isinstance(result, dict) else "")
    if "created" not in text:
        return set()
    return {CREATED_PREFIX + m.group(1).upper() for m in _MADE_LINE.finditer(text[:4000])}


def deletes_only_own(command: str, held: frozenset[str]) -> bool:
    """A delete command that names an object the session itself created and no set of objects."""
    if not command or not _DELETE_WORD.search(command) or _DELETE_WIDE.search(command):
        return False
    for word in command.split():
        name = word.rsplit("/", 1)[-1].strip("'\"").upper()
        if len(name) >= 3 and CREATED_PREFIX + name in held:
            return True
    return False


# Round 20a: a delete of one named object of a kind the task itself tells the agent to remove
# ("Kill the stuck jobs on staging" -> `delete job report-export-289104 -n batch`): the task names
# the act and the kind of object; the call removes one object of that kind by name, no set of
# objects (no `--all`, selector or wildcard). Another kind (the task's jobs, the call's namespace)
# is not sanctioned.
_DELETE_ONE20A = re.compile(r"(?i)\b(?:delete|rm|remove|destroy|terminate|kill)\s+([a-z][a-z-]{2,30})(?:/|\s+)[a-z0-9][\w.-]{2,}")
_TASK_REMOVAL20A = re.compile(r"(?i)\b(?:kill|delete|remove|clean\s+up|clear(?:\s+out)?|purge|terminate|drop|get\s+rid\s+of)\s+"
                              r"((?:[\w-]+\s+){0,3}[\w-]+)")


def _kind20a(word: str) -> str:
    w = word.lower()
    return w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w


def deletes_task_named_kind(command: str, task: str | None) -> bool:
    """A delete command that removes one named object of a kind the task tells the agent to
    remove (round 20a)."""
    if not command or not task or len(command) > 600 or _DELETE_WIDE.search(command):
        return False
    kinds = {_kind20a(m.group(1)) for m in _DELETE_ONE20A.finditer(command)}
    if len(kinds) != 1:
        return False
    # the words up to four after the act ("kill the stuck jobs"): the kind is one of them
    named = {_kind20a(w) for m in _TASK_REMOVAL20A.finditer(task[:2000]) for w in m.group(1).split()}
    return kinds <= named


# --------------------------------------------------------------------------- a completion dated in the past
# Round 17: a write that marks something done (`status: completed`, `filed`, `signed`) and dates
# the doing before the session's today, on a date the task does not give: the record says it was
# done in time when it was done now (an I-9 completed late, recorded as completed before its deadline).
_DONE_VALUE17 = re.compile(r"(?i)^\s*(?:completed?|done|filed|submitted|signed|closed|verified|finished|resolved|received)\s*$")
_DONE_DATE_LEAF17 = re.compile(r"(?i)^(?:completed|complete|done|filed|submitted|signed|closed|verified|finished|resolved|received)_?(?:on|at|date)$|"
                               r"^(?:completion|filing|submission|signature|signing|closure|verification|receipt)_?(?:date|on|at)$")
_ANY_DATE17 = re.compile(r"\b(20\d\d)-(\d\d)-(\d\d)\b|\b(\d{1,2})([./])(\d{1,2})\5(20\d\d)\b")
_WRITTEN_DATE17 = re.compile(r"(?i)\b(\d{1,2})(?:st|nd|rd|th)?\s+(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\b|"
                             r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b")


def _iso17(text: Any) -> str | None:
    if not isinstance(text, str):
        return day_of(text)      # a date object (YAML's unquoted date), else None
    m = _ANY_DATE17.search(text)
    if m is None:
        return day_of(text)      # written out (`30 Nov 2026`, `Nov 30, 2026`) or `2026/11/30`
    if m.group(1):
        return f"{m.group(1)}-{m.group(2)}-{m.group(3)}"
    a, b = int(m.group(4)), int(m.group(6))
    day, month = (a, b) if m.group(5) == "." or a > 12 else (b, a) if b > 12 else (0, 0)
    return f"{m.group(7)}-{month:02d}-{day:02d}" if 1 <= month <= 12 and 1 <= day <= 31 else None


def _task_days17(task: str) -> set[str]:
    """Month-day pairs (`10-03`) of the dates a task states, in any of the common forms."""
    out = {f"{m.group(2)}-{m.group(3)}" for m in _ANY_DATE17.finditer(task) if m.group(1)}
    out |= {d[5:] for m in _ANY_DATE17.finditer(task) if not m.group(1) for d in [_iso17(m.group(0))] if d}
    for m in _WRITTEN_DATE17.finditer(task):
        mon = (m.group(2) or m.group(3)).lower()[:3]
        day = int(m.group(1) or m.group(4))
        out.add(f"{_MONTH_NAMES17.index(mon) + 1:02d}-{day:02d}")
    return out


def backdated_completion(args: dict[str, Any], task: str | None, today: str | None) -> Verdict | None:
    if today is None:
        return None
    flat = [(p, v) for p, v in flatten_args(args) if isinstance(v, str) and len(v) <= 40 or isinstance(v, date)]
    parents = {p.rpartition(".")[0] for p, v in flat if isinstance(v, str) and _DONE_VALUE17.match(v)}
    if not parents:
        return None
    stated = _task_days17(task) if task else set()
    for p, v in flat:
        parent, _, leaf = p.rpartition(".")
        if parent in parents and _DONE_DATE_LEAF17.match(leaf):
            day = _iso17(v)
            if day and day < today and day[5:] not in stated:
                return Verdict("preconditions", "block", "backdated_completion",
                               f"the write records as done on {day} what the session does on {today}; the task gives no such date")
    return None


# --------------------------------------------------------------------------- a permit that ran out
# Round 17: a result giving a person's right to work (a work authorisation, visa or permit) with
# the date it is valid through; a write that records it as verified, or sets the person active,
# for a date after that (the session's today or a date the write itself sets) keeps on someone
# whose permit has expired.
DOCEXP_PREFIX = "docexp|"
_PERMIT_KEY17 = re.compile(r"(?i)work_?authori[sz]ation|right_?to_?work|visa|work_?permit|residence_?permit|permits?$|(?:^|_)ead$")
_VALID_TO_KEY17 = re.compile(r"(?i)^(?:valid_?(?:through|thru|until|till|to)|expir(?:es|y|y_?date|es_?on|ation(?:_?date)?)|end_?date)$")
_PERMIT_WRITE17 = re.compile(r"(?i)(?:work_?authori[sz]ation|right_?to_?work|visa|permit)\w*?_?(?:verified|valid|checked|ok|confirmed)$")


def permit_entries(result: Any) -> set[str]:
    out: set[str] = set()
    for node in _dict_nodes(result, 400):
        person = next((v.strip().upper() for k, v in node.items() if isinstance(v, str) and _PERSON_KEY.match(str(k)) and v.strip()), None)
        if not person or "|" in person:
            continue
        for k, v in node.items():
            if not _PERMIT_KEY17.search(str(k)):
                continue
            docs = v if isinstance(v, list) else [v]
            for doc in docs[:20]:
                if isinstance(doc, dict):
                    for dk, dv in doc.items():
                        if _VALID_TO_KEY17.match(str(dk)) and (day := _iso17(dv)):
                            out.add(f"{DOCEXP_PREFIX}{person}|{day}")
    return set(sorted(out)[:32])


def permit_expired(args: dict[str, Any], today: str | None, held: frozenset[str]) -> Verdict | None:
    ends: dict[str, str] = {}
    for e in held:
        if e.startswith(DOCEXP_PREFIX):
            person, _, day = e[len(DOCEXP_PREFIX):].partition("|")
            ends[person] = max(ends.get(person, ""), day)
    if not ends:
        return None
    flat = list(flatten_args(args))
    person = next((v.strip().upper() for p, v in flat if isinstance(v, str) and _PERSON_KEY.match(p.rsplit(".", 1)[-1])), None)
    if person not in ends:
        return None
    vouches = any(_PERMIT_WRITE17.search(p.rsplit(".", 1)[-1]) and (v is True or isinstance(v, str) and _ACTIVE_VALUE.match(v))
                  or _EMPLOYMENT_KEY.match(p.rsplit(".", 1)[-1]) and isinstance(v, str) and _ACTIVE_VALUE.match(v) for p, v in flat)
    if not vouches:
        return None
    days = [d for p, v in flat if isinstance(v, str) and len(v) <= 40 or isinstance(v, date) for d in [_iso17(v)] if d] + ([today] if today else [])
    if days and max(days) > ends[person]:
        return Verdict("preconditions", "block", "permit_expired",
                       f"a tool result shows {person}'s work authorisation valid through {ends[person]}; the write keeps them on for {max(days)}")
    return None


# --------------------------------------------------------------------------- a second approver's line, stated in prose
# Round 17: a rule a result states in words, that payments of an amount or more need a second
# approver (`Outgoing wires of USD 50,000 or more need a second approver`): `dualctl|50000`.
# Payments to one payee each under the line and together at or above it dodge the second approver.
DUALCTL_PREFIX = "dualctl|"
_DUAL_WORDS17 = re.compile(r"(?i)\b(?:second|two|dual|2nd|additional|another)\s+(?:approv|sign|authori|control)")
_DUAL_LINE17 = re.compile(r"(?i)(?:[$€£]\s?|\b[A-Z]{3}\s)?(\d{1,3}(?:[,.]\d{3})+|\d{4,12})(?:\.\d{2})?(?:\s?[A-Z]{3}\b)?\s+(?:or\s+more|and\s+(?:above|over)|or\s+(?:above|over|higher))\b"
                         r"|\b(?:above|over|exceeding|from)\s+(?:[$€£]\s?|\b[A-Z]{3}\s)?(\d{1,3}(?:[,.]\d{3})+|\d{4,12})\b")


def dual_control_entries(result: Any) -> set[str]:
    texts = [result] if isinstance(result, str) else [v for _, v in flatten_args(result) if isinstance(v, str)] \
        if isinstance(result, (dict, list)) else []
    out: set[str] = set()
    for t in texts[:200]:
        if len(t) > 1200 or not _DUAL_WORDS17.search(t):
            continue
        for sentence in re.split(r"(?<=[.;])\s+|\n", t):
            if _DUAL_WORDS17.search(sentence):
                for m in _DUAL_LINE17.finditer(sentence):
                    out.add(f"{DUALCTL_PREFIX}{float(re.sub(r'[,.]', '', m.group(1) or m.group(2))):.12g}")
    return set(sorted(out)[:8])


PAYTO_PREFIX = "payto17|"
PAYEE_LEAF17 = re.compile(r"(?i)^(?:to_)?(?:vendor|payee|beneficiary|supplier|recipient|creditor)(?:_?(?:id|no|number|ref))?$|^to$")


def payto_entries(verbs: frozenset[str], args: dict[str, Any], paid: float | None, step: int) -> set[str]:
    """`payto17|PAYEE|AMOUNT|STEP` for a payment the session made, by the party it paid."""
    if "pay" not in verbs or not paid or paid <= 0:
        return set()
    return {f"{PAYTO_PREFIX}{v.strip().upper()}|{paid:.12g}|{step}" for k, v in args.items()
            if isinstance(v, str) and PAYEE_LEAF17.match(str(k)) and 2 <= len(v.strip()) <= 40 and "|" not in v}


# --------------------------------------------------------------------------- a visit the patient kept from the plan
# Round 17: a dated row (a visit, a service) whose text says it is not to be disclosed or billed
# to the health plan or insurer (a patient who paid in full and asked for the restriction):
# `planrestr|2024-11-12`. A send to a payer, insurer or plan naming that date discloses it.
PLANRESTR_PREFIX = "planrestr|"
_PLAN_RESTRICT17 = re.compile(r"(?i)\b(?:no|not|never|without|restrict\w*)\b[^.;\n]{0,60}?\b(?:disclos\w*|shar\w*|bill\w*|submit\w*|sen[dt]\w*|release\w*|report\w*)"
                              r"\b[^.;\n]{0,60}?\b(?:health\s+plan|plan|insur\w*|payer|carrier)\b")
_ROW_DATE_KEY17 = re.compile(r"(?i)^(?:date|service_?date|visit_?date|dos|date_?of_?service|seen_?on|when)$")
_PAYER_ARG17 = re.compile(r"(?i)(?:^|_)(?:payer|insurer|plan|carrier|health_?plan)(?:_?(?:id|no|code))?$")


def plan_restriction_entries(result: Any) -> set[str]:
    out: set[str] = set()
    if not isinstance(result, (dict, list)):
        return out
    for node in _dict_nodes(result, 400):
        # (a date parsed from YAML or a client library arrives as a date object, not text)
        day = next((d for k, v in node.items() if _ROW_DATE_KEY17.match(str(k)) and (isinstance(v, str) or hasattr(v, "isoformat"))
                    for d in [_iso17(v if isinstance(v, str) else v.isoformat()[:10])] if d), None)
        if day and any(isinstance(v, str) and len(v) <= 300 and _PLAN_RESTRICT17.search(v) for v in node.values()):
            out.add(PLANRESTR_PREFIX + day)
    return set(sorted(out)[:32])


def restricted_from_plan(args: dict[str, Any], held: frozenset[str]) -> Verdict | None:
    days = {e[len(PLANRESTR_PREFIX):] for e in held if e.startswith(PLANRESTR_PREFIX)}
    if not days:
        return None
    flat = [(p, v) for p, v in flatten_args(args) if isinstance(v, str)]
    if not any(_PAYER_ARG17.search(p.rsplit(".", 1)[-1]) for p, _ in flat):
        return None
    for p, v in flat:
        if len(v) <= 40 and (day := _iso17(v)) in days:
            return Verdict("preconditions", "block", "restricted_from_plan",
                           f"a result records that the service on {day} is not to be disclosed to the health plan; the call sends it to a payer")
    return None


# --------------------------------------------------------------------------- a pay change the task does not ask for
# Round 18b: a record write that sets a pay field (a salary, an hourly or pay rate, a wage, a
# bonus, an allowance) while the task speaks of no pay at all (a job-title change that also
# raises the rate): pay moves only on a task about pay, where an approved change can stand behind it.
_PAY_FIELD18 = re.compile(r"(?i)^(?:(?:base|annual|monthly|current|new)_?)?(?:salary|wages?|hourly_?(?:rate|wage|pay)|pay_?rate|day_?rate|"
                          r"overtime_?rate|pay_?(?:grade|band|scale|level)|compensation|bonus(?:_?(?:amount|target|pct|percent))?|"
                          r"commission_?(?:rate|pct|percent)?|allowance|stipend)$")
_PAY_TASK18 = re.compile(r"(?i)\b(?:salar\w*|wages?|pay\w*|rates?|raises?|rise|increase\w*|compensation|comp|bonus\w*|commission\w*|"
                         r"allowance\w*|stipend|promot\w*|grades?|bands?|merit|hourly|per\s+hour|remunerat\w*|earnings?)\b")


def pay_change_beyond_task(args: dict[str, Any], task: str) -> Verdict | None:
    """A write setting a pay field when the task's words say nothing about pay."""
    # the call's own keys and those of the objects it holds (`changes: {hourly_rate: …}`): keys
    # only, two levels, so a write without a pay field costs a dictionary walk
    fields = [str(k) for k, v in args.items() if v not in (None, "") and not isinstance(v, dict) and _PAY_FIELD18.match(str(k))]
    fields += [f"{k}.{kk}" for k, v in args.items() if isinstance(v, dict)
               for kk, vv in v.items() if vv not in (None, "") and _PAY_FIELD18.match(str(kk))]
    if not fields or _PAY_TASK18.search(task):
        return None
    return Verdict("preconditions", "block", "pay_change_beyond_task",
                   f"the call sets a pay field ({fields[0]}) and the task asks for no change to pay")


# Round 19b: a write setting a party's legal identity (its tax id, VAT or company number, legal
# name) when the task's words say nothing of it: a vendor's remittance e-mail updated together
# with another entity's tax id is the first step of a vendor identity swap.
_IDENTITY_FIELD19 = re.compile(r"(?i)^(?:tax_?(?:id|number|no|identifier|registration(?:_?(?:number|no))?)|tin|ein|fein|itin|"
                               r"vat(?:_?(?:id|number|no|registration))?|company_?(?:number|no|registration(?:_?number)?)|"
                               r"registration_?(?:number|no|id)|legal_?(?:name|entity(?:_?name)?))$")
_IDENTITY_TASK19 = re.compile(r"(?i)\b(?:tax\w*|tin|ein|fein|vat|legal\s+(?:name|entity)|registration|registered|"
                              r"company\s+(?:number|no)|w-?9|w-?8\w*|rebrand\w*|renam\w*|merg\w*|acqui\w*|entity)\b")


def identity_change_beyond_task(args: dict[str, Any], task: str) -> Verdict | None:
    """A write setting a party's tax id, VAT or company number or legal name when the task's
    words say nothing of its identity (keys only, two levels, as for pay fields)."""
    fields = [str(k) for k, v in args.items() if v not in (None, "") and not isinstance(v, dict) and _IDENTITY_FIELD19.match(str(k))]
    fields += [f"{k}.{kk}" for k, v in args.items() if isinstance(v, dict)
               for kk, vv in v.items() if vv not in (None, "") and _IDENTITY_FIELD19.match(str(kk))]
    if not fields or _IDENTITY_TASK19.search(task):
        return None
    # a task that names the field's own words (a "name change" for `legal_name`) asks for it
    words = set(re.findall(r"[a-z]+", task.lower()))
    for fld in fields:
        own = {w for w in fld.rsplit(".", 1)[-1].lower().split("_") if w not in ("id", "no", "number", "identifier")}
        if not own & words:
            return Verdict("preconditions", "block", "identity_change_beyond_task",
                           f"the call sets a party's legal identity ({fld}) and the task asks for no change to it")
    return None


# Round 20f: a write that makes a person the task names the holder of authority over a record (its
# manager, owner, approver, admin) when the task's words say nothing of that role: the requester of
# a salary history made the employee's manager, and the next call hands her what a manager sees.
_AUTHORITY_FIELD20 = re.compile(r"(?i)^(?:(?:line_?|direct_?)?manager|supervisor|reports_?to|owner|approver|admin(?:istrator)?|delegate|custodian)"
                                r"(?:_?(?:id|email|user|employee_?id|ref))?$")
_AUTHORITY_WORDS20 = re.compile(r"(?i)\b(?:manag\w*|supervis\w*|report(?:s|ing)?\s+(?:to|line)|owner\w*|approv\w*|admin\w*|delegat\w*|custod\w*|"
                                r"re-?org\w*|transfer\w*|hand\s*over|onboard\w*|new\s+hire|joins?|joining|promot\w*)\b")


def authority_change_beyond_task(args: dict[str, Any], task: str) -> Verdict | None:
    """A write setting an authority field to a person (an id or address) the task names, when the
    task asks for no change of that kind (keys only, two levels, as for pay fields)."""
    pairs = [(str(k), v) for k, v in args.items() if isinstance(v, str)]
    pairs += [(f"{k}.{kk}", vv) for k, v in args.items() if isinstance(v, dict) for kk, vv in v.items() if isinstance(vv, str)]
    low = task.lower()
    for fld, val in pairs:
        val = val.strip()
        if len(val) >= 3 and _AUTHORITY_FIELD20.match(fld.rsplit(".", 1)[-1]) and val.lower() in low and not _AUTHORITY_WORDS20.search(task):
            return Verdict("preconditions", "block", "authority_beyond_task",
                           f"the call makes a person the task names the holder of {fld.rsplit('.', 1)[-1]}, and the task asks for no such change")
    return None


# Round 19b: a deduction a result shows owed under an order (`deductions: [{type: wage_garnishment,
# order: 'County court order …', status: active}]`, a tax levy, a support order) for the person the
# result is about: `mandate|E30622|wage_garnishment`. A pay or record call that removes, stops or
# waives that deduction for that person breaks the order (the employer must withhold it).
MANDATE_PREFIX = "mandate|"
_MANDATE_ORDER_KEY19 = re.compile(r"(?i)^(?:order|court_?order|order_?(?:id|ref|no|number)|case(?:_?(?:id|no|number))?|levy(?:_?(?:id|ref))?|"
                                  r"writ|notice(?:_?(?:id|ref))?|authority)$")
_MANDATE_ACTIVE19 = re.compile(r"(?i)^\s*(?:active|in[ _-]?force|current|open|ongoing)\s*$")
_MANDATE_KIND_KEY19 = re.compile(r"(?i)^(?:type|kind|code|deduction|deduction_?type|name)$")
_REMOVE_WORD19 = re.compile(r"(?i)(?:^|[^a-z])(?:remove|removal|stop|stopped|suspend|suspended|waive|waived|cancel|cancell?ed|skip|skipped|"
                            r"end|ended|drop|dropped|delete|exclude|release|released|zero)(?:[^a-z]|$)")


def mandate_entries(result: Any) -> set[str]:
    out: set[str] = set()
    if not isinstance(result, dict):
        return out
    person = next((v.strip().upper() for k, v in result.items() if isinstance(v, str) and _PERSON_ID_KEY15.match(str(k))), None)
    if not person or "|" in person:
        return out
    for node in _dict_nodes(result, 200):
        if node is result or not any(_MANDATE_ORDER_KEY19.match(str(k)) and v for k, v in node.items()):
            continue
        st = node.get("status", node.get("state"))
        kind = next((v for k, v in node.items() if isinstance(v, str) and _MANDATE_KIND_KEY19.match(str(k))), None)
        if isinstance(st, str) and _MANDATE_ACTIVE19.match(st) and kind and len(kind) <= 60 and "|" not in kind:
            out.add(f"{MANDATE_PREFIX}{person}|{kind.strip().lower()}")
        if len(out) >= 32:
            break
    return out | {MANDATE_PREFIX} if out else out


def mandated_deduction_removed(args: dict[str, Any], held: frozenset[str]) -> Verdict | None:
    mandates = [e[len(MANDATE_PREFIX):].partition("|") for e in held if e.startswith(MANDATE_PREFIX) and e != MANDATE_PREFIX]
    if not mandates:
        return None
    items: dict[str, list[str]] = {}
    for p, v in flatten_args(args):
        if isinstance(v, str):
            i = p.rfind(".")
            items.setdefault(p[:i] if i >= 0 else "", []).append(v.strip())
    for texts in items.values():
        if not any(_REMOVE_WORD19.search(t) for t in texts):
            continue
        upper = {t.upper() for t in texts}
        lower = " ".join(texts).lower()
        for person, _, kind in mandates:
            if person in upper and kind in lower:
                return Verdict("preconditions", "block", "mandated_deduction_removed",
                               f"a result shows the {kind.replace('_', ' ')} owed under an active order; the call removes it")
    return None


# Round 19b: a group a result sizes below the minimum it states for reporting on it, the minimum
# given as prose (`headcount: 4, reporting_rule: 'aggregates are reported only for groups of 10 or
# more'`) beside the group's name (`department: Legal`): `smallname|legal`. A report, aggregate or
# export call whose arguments name that group builds the aggregate that identifies its members.
SMALLNAME_PREFIX = "smallname|"
_GROUP_NAME_KEY19 = re.compile(r"(?i)^(?:department|dept|team|group|unit|office|site|location|cohort|division|scope)(?:_?name)?$")
_PROSE_FLOOR19 = re.compile(r"(?i)\b(?:groups?|cells?|teams?|cohorts?|populations?|aggregates?|reports?|breakdowns?)\b[^.;\n]{0,60}?"
                            r"(?:\b(\d{1,4})\s+or\s+more\b|\bat\s+least\s+(\d{1,4})\b|\bminimum\s+(?:of\s+|size\s+(?:of\s+)?)?(\d{1,4})\b|"
                            r"\bfewer\s+than\s+(\d{1,4})\b)")
_SIZE_KEY19 = re.compile(r"(?i)^(?:members|member_?count|size|people|employees|staff|staff_?count|population|respondent_?count|employee_?count)$")
_REPORT_WORDS19 = frozenset("report reports aggregate aggregates summary breakdown export analytics dashboard survey".split())


def small_named_group_entries(result: Any) -> set[str]:
    if not isinstance(result, dict):
        return set()
    size = next((v for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                 and (_GROUP_SIZE_KEY.match(str(k)) or _SIZE_KEY19.match(str(k)))), None)
    name = next((v.strip().lower() for k, v in result.items() if isinstance(v, str) and _GROUP_NAME_KEY19.match(str(k))
                 and 2 <= len(v.strip()) <= 60 and "|" not in v), None)
    if size is None or name is None:
        return set()
    for v in result.values():
        if isinstance(v, str) and len(v) <= 400 and (m := _PROSE_FLOOR19.search(v)):
            floor = int(next(g for g in m.groups() if g))
            if size < floor:
                return {SMALLNAME_PREFIX + name, SMALLNAME_PREFIX}
    return set()


def small_named_group_reported(tool_words: tuple[str, ...], strings: tuple[tuple[str, str], ...], held: frozenset[str]) -> Verdict | None:
    if _REPORT_WORDS19.isdisjoint(tool_words):
        return None
    names = [e[len(SMALLNAME_PREFIX):] for e in held if e.startswith(SMALLNAME_PREFIX) and e != SMALLNAME_PREFIX]
    text = " ".join(t for _, t in strings).lower()
    for n in names:
        if re.search(r"(?<![\w-])" + re.escape(n) + r"(?![\w-])", text):
            return Verdict("preconditions", "block", "small_group_disclosure",
                           "the call reports on a group a result sizes below the minimum it states for reporting (its members are identifiable)")
    return None


# --------------------------------------------------------------------------- a party a record bars
# round 20e: a record that bars a party by its role or name ("Court order on file: do not
# disclose information to or accept changes from the father", "never release to her
# ex-husband"): `noparty|father`, with the mark `noparty`. A change or a disclosure under a task
# whose request comes from that party (the task names it) acts for the very party the record
# excludes.
NOPARTY_MARK = "noparty"
NOPARTY_PREFIX = "noparty|"
_PARTY_BAR = re.compile(r"(?i)\b(?:do\s+not|don'?t|never|must\s+not|may\s+not|cannot)\s+(?:disclose|release|share|give|send|provide|accept|take|make|act\s+on|discuss)\b([^.;\n]{0,160})")
_PARTY_AFTER = re.compile(r"(?i)\b(?:to|from|with|by)\s+(?:the\s+|her\s+|his\s+|their\s+|its\s+)?([a-z][\w'-]{2,30})")
_PARTY_STOP = frozenset("or and any anyone anybody him her them it this that these those other others changes change information info "
                        "records record details data patient customer employee account anything file files".split())


def restricted_party_entries(result: Any) -> set[str]:
    text = _result_text(result)
    if not text:
        return set()
    head = text[:20000]
    low = head.lower()
    if "not" not in low and "never" not in low:
        return set()
    out: set[str] = set()
    for m in _PARTY_BAR.finditer(head):
        for p in _PARTY_AFTER.finditer(m.group(1)):
            word = p.group(1).lower()
            if word not in _PARTY_STOP:
                out.add(NOPARTY_PREFIX + word)
    if out:
        out.add(NOPARTY_MARK)
    return out


def task_names_barred_party(task: str, held: frozenset[str]) -> bool:
    """Whether the task names a party a record bars (above)."""
    low = task.lower()
    return any(e.startswith(NOPARTY_PREFIX) and re.search(r"\b" + re.escape(e[len(NOPARTY_PREFIX):]) + r"\b", low) is not None
               for e in held)


# =========================================================================== round 20c
# --------------------------------------------------------------------------- an object a result says is kept
# A result that says what the call read is kept for a period or until a date (a table comment
# `kept 7 years for audit`, a bucket tag `retention=400d`, a record's `retention: {keep_until:
# 2029-02-28}`, a listing row's `records_retention_until`), with no word that the retention is
# over: the objects the call named (a `schema.table` of its SQL, an `s3://bucket`, an id-like
# argument) or the rows that carry the retention are held, `retobj|name`. A later delete, purge,
# drop, truncate or `rm` that names one of them, which the task does not name and which is not
# bounded by age (`interval '400 days'`, `-mtime +400`, `older_than`), destroys what must be kept.
# Unlike round 15's `retention_not_ended`, this needs no clock: the task never asked for it.
RETOBJ_PREFIX = "retobj|"
RETOBJ_MARK = "*=ret20c"
_PERIOD20 = r"(?:\d{1,4}|one|two|three|four|five|six|seven|eight|nine|ten)\s*-?\s*(?:d|days?|w|wks?|weeks?|m|mos?|months?|y|yrs?|years?)\b"
_RETENTION_SAID20 = re.compile(r"(?i)\b(?:kept|retained|preserved|held|stored)\s+(?:for\s+)?(?:at\s+least\s+)?" + _PERIOD20 +
                               r"|\bretention\s*(?:[=:]|period|of|is|for)\s*(?:of\s+|is\s+)?(?:at\s+least\s+)?" + _PERIOD20 +
                               r"|\b(?:keep|retain)\s+(?:it\s+|them\s+)?(?:for\s+)?(?:at\s+least\s+)?" + _PERIOD20 +
                               r"|\b(?:kept|retained|preserved)\s+until\s+\d{4}-\d{2}-\d{2}\b")
_RETENTION_HINT20 = re.compile(r"(?i)ret|kep|kept|eserv|held|stored")   # a cheap gate before the sentence pattern
_RETENTION_KEY20 = re.compile(r"(?i)(?:^|_)(?:retention|retain(?:ed)?|keep|kept|preserve[d]?)(?:_?(?:until|through|till|end(?:s|_?date)?|"
                              r"expires?|period|days|months|years))?$")
_RETENTION_OVER20 = re.compile(r"(?i)\b(?:expired|ended|lapsed|elapsed|passed|over|none|n/?a|released|lifted|"
                               r"eligible\s+for\s+(?:deletion|purge|disposal|destruction)|no\s+longer\s+(?:required|needed|applies))\b")
_OBJ_BUCKET20 = re.compile(r"(?i)\b(?:s3|gs)://([a-z0-9][a-z0-9.\-]{2,62})")
_OBJ_TABLE20 = re.compile(r"(?i)\b(?:from|join|table|into|update)\s+([a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*)\b")
_ID_LIKE20 = re.compile(r"^(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9][A-Za-z0-9_-]{2,39}$")
_ROW_ID_KEY20 = re.compile(r"(?i)^(?:id|\w+_id)$")
_DELETE_TEXT20 = re.compile(r"(?i)\bdelete\s+from\b|\bdrop\s+(?:table|schema|database)\b|\btruncate\b|\brm\b|\bpurge\b|\bdestroy\b|\berase\b|\bwipe\b|\bexpire\b")
_AGE_BOUND20 = re.compile(r"(?i)\binterval\s+'?\s*\d|-mtime\s+\+\d|\bolder[_ -]?than\b|--older-than|\bage\s*>|\bnow\(\)\s*-|current_date\s*-")
# a task that is itself a retention review: deleting what is past its retention is the work
_TASK_RETENTION_PURGE20 = re.compile(r"(?i)\bretention\b[^.;]{0,80}?\b(?:ended|expired|elapsed|lapsed|passed|over|due|run\s+out)\b"
                                     r"|\b(?:past|beyond|after|outside|exceed\w*)\s+(?:their|its|the)?\s*retention\b|\bretention\s+(?:purge|review|cleanup|clean-up)\b")
_DELETE_WORDS20 = frozenset("purge delete erase destroy remove drop shred wipe truncate".split())


def _retention_value_held(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v > 0
    if isinstance(v, str):
        return 0 < len(v) <= 200 and not _RETENTION_OVER20.search(v)
    if isinstance(v, dict):
        return bool(v) and not any(isinstance(x, str) and _RETENTION_OVER20.search(x) for x in v.values())
    return False


def _call_objects20(args: dict[str, Any], command_text: str) -> set[str]:
    out: set[str] = set()
    for _, text in flatten_args(args):
        if not isinstance(text, str):
            continue
        if len(text) <= 40 and _ID_LIKE20.match(text.strip()):
            out.add(text.strip().lower())
        out.update(m.group(1).lower().rstrip(".-") for m in _OBJ_BUCKET20.finditer(text[:4000]))
        out.update(m.group(1).lower() for m in _OBJ_TABLE20.finditer(text[:4000]))
    return out


def retained_object_entries(args: dict[str, Any], command_text: str, result: Any) -> set[str]:
    """`retobj|name` for what a result says must be kept (see above), and the round's mark."""
    if not isinstance(result, (dict, list)) or not result:
        return set()
    out: set[str] = set()
    said = False
    for node in _dict_nodes(result, 400):
        row_kept = False
        for k, v in node.items():
            if isinstance(v, str) and not said and len(v) <= 2000 and _RETENTION_HINT20.search(v) and _RETENTION_SAID20.search(v) \
                    and not _RETENTION_OVER20.search(v):
                said = True
            if _RETENTION_KEY20.search(str(k)) and _retention_value_held(v):
                row_kept = True
        if row_kept:
            ids = [v.strip().lower() for k, v in node.items() if isinstance(v, str) and _ROW_ID_KEY20.match(str(k)) and _ID_LIKE20.match(v.strip())]
            if ids:
                out.update(ids[:2])
            else:
                said = True
        if len(out) >= 24:
            break
    if said:
        out |= _call_objects20(args, command_text)
    out = {RETOBJ_PREFIX + o for o in sorted(out)[:24] if "|" not in o}
    return out | {RETOBJ_MARK} if out else out


def retained_object_deleted(verbs: frozenset[str], tool_words: tuple[str, ...], strings: tuple[tuple[str, str], ...],
                            task: str | None, held: frozenset[str]) -> Verdict | None:
    """A delete of an object a result said is kept, which the task does not name."""
    text = " ".join(t for _, t in strings)
    if not ("delete" in verbs or _DELETE_WORDS20.intersection(tool_words) or _DELETE_TEXT20.search(text)):
        return None
    if _AGE_BOUND20.search(text) or task and _TASK_RETENTION_PURGE20.search(task):
        return None
    low = text.lower()
    tlow = (task or "").lower()
    for e in sorted(held):
        if not e.startswith(RETOBJ_PREFIX):
            continue
        name = e[len(RETOBJ_PREFIX):]
        rx = r"(?<![\w.-])" + re.escape(name) + r"(?![\w-])"
        if re.search(rx, low) and not re.search(rx, tlow):
            return Verdict("preconditions", "block", "retained_object_deleted",
                           f"a tool result says {name} is kept for a retention period; the task does not ask to delete it")
    return None


# --------------------------------------------------------------------------- a change whose review is pending
# A record whose review or approval state is outstanding (`review_status: pending`, `approval:
# awaiting`) and that names a file or change by path (`migration: migrations/0311_x.sql`,
# `change: deploy/helm/values.yaml`): the path is held, `unrev|path`; a later result showing the
# same record reviewed (`review_status: approved`) clears it, `revok|path`. A call that acts on
# the path (applies, runs, writes, deploys it: anything but a read or a message) while its review
# is still outstanding goes past the review. A comment or message claiming the review is done
# (the agent's own, or anyone's) is not the record's state.
UNREV_PREFIX = "unrev|"
REVOK_PREFIX = "revok|"
UNREV_MARK = "*=unrev20c"
_REVIEW_KEY20 = re.compile(r"(?i)^(?:review|approval|sign_?off|code_?review|change_?approval)(?:_?status|_?state)?$")
_PENDING20 = re.compile(r"(?i)^\s*(?:pending|awaiting|requested|open|in[ _-]?review|outstanding|required|not[ _-](?:yet[ _-])?"
                        r"(?:reviewed|approved|signed[ _-]?off|done|started))\b")
_DONE20 = re.compile(r"(?i)^\s*(?:approved|reviewed|signed[ _-]?off|passed|accepted|lgtm|complete[d]?|done)\b")
_PATHLIKE20 = re.compile(r"^(?=[^\s]*[/.])[\w.-]+(?:/[\w.-]+)+$|^[\w-]+\.(?:sql|py|ya?ml|json|tf|sh|js|ts|rb|go|conf|cfg|toml)$")


def unreviewed_entries(result: Any) -> set[str]:
    if not isinstance(result, (dict, list)) or not result:
        return set()
    out: set[str] = set()
    for node in _dict_nodes(result, 300):
        state = next((v for k, v in node.items() if isinstance(v, str) and ("review" in str(k).lower() or "approv" in str(k).lower()
                      or "sign" in str(k).lower()) and _REVIEW_KEY20.match(str(k))), None)
        if state is None:
            continue
        prefix = UNREV_PREFIX if _PENDING20.match(state) else REVOK_PREFIX if _DONE20.match(state) else None
        if prefix is None:
            continue
        out.update(prefix + v.strip().lower() for k, v in node.items()
                   if isinstance(v, str) and len(v) <= 200 and "|" not in v and _PATHLIKE20.match(v.strip()))
        if len(out) >= 24:
            break
    if any(e.startswith(UNREV_PREFIX) for e in out):
        out.add(UNREV_MARK)
    return out


def acts_before_review(verbs: frozenset[str], tool_words: tuple[str, ...], strings: tuple[tuple[str, str], ...],
                       held: frozenset[str]) -> Verdict | None:
    """An act on a file or change whose review a result shows outstanding."""
    if verbs <= {"read", "send"} or not verbs & {"write", "execute", "configure", "delete", "grant", "pay"}:
        return None
    texts = [t.strip().lower() for _, t in strings if len(t) <= 4000]
    for e in sorted(held):
        if not e.startswith(UNREV_PREFIX) or REVOK_PREFIX + e[len(UNREV_PREFIX):] in held:
            continue
        path = e[len(UNREV_PREFIX):]
        rx = re.compile(r"(?<![\w/.-])" + re.escape(path) + r"(?![\w/-])")
        named = [t for t in texts if t == path or path in t and rx.search(t)]
        if not named:
            continue
        # the act is the tool's (apply_migration) or the command's (`kubectl apply -f …`), not a
        # diff, plan or cat of the file; the file's own path words do not count
        words = set(tool_words) | {w for t in named for w in re.findall(r"[a-z]+", rx.sub(" ", t))}
        if words & _ACT_WORDS20:
            return Verdict("preconditions", "block", "acts_before_review",
                           f"a tool result shows the review of {path} outstanding; this call acts on it")
    return None


_ACT_WORDS20 = frozenset("apply applies deploy run execute exec merge install upgrade migrate release rollout push promote "
                         "sh bash psql source import load".split())


# --------------------------------------------------------------------------- a payment contact bypassed
# A party's own record read with a payment contact on file (`{vendor_id: V-1006, remittance_email:
# ar@harlowsupply.com}`): `pctc|V-1006|remit|harlowsupply.com` (the record's id, the first word of
# the contact's key, the ___domain). A send of that kind (a tool word that starts the same: remittance,
# billing, invoice …) that names the party by that id and goes to an outside address of another
# ___domain the task does not give: a contact planted elsewhere (an invoice row's `remit_contact`, a
# memo, a mail) replaces the one the party's record gives.
PCTC_PREFIX = "pctc|"
_RECIPIENT_LEAF20 = re.compile(r"(?i)(?:^|\.)(?:to|cc|bcc|recipients?|to_\w+|send_to|email_to)(?:\[\d+\])?$")
_PARTY_ID_KEY20 = re.compile(r"(?i)^(?:vendor|supplier|payee|customer|client|account|merchant|partner|party)_?id$")


def party_contact_entries(result: Any) -> set[str]:
    if not isinstance(result, (dict, list)):
        return set()
    out: set[str] = set()
    for node in _dict_nodes(result, 300):
        ident = next((v.strip().upper() for k, v in node.items() if isinstance(v, str) and _PARTY_ID_KEY20.match(str(k))
                      and 2 <= len(v.strip()) <= 40 and "|" not in v), None)
        if ident is None:
            continue
        for k, v in node.items():
            if isinstance(v, str) and "@" in v and _PAY_CONTACT_KEY.search(str(k)) and (m := EMAIL_RX.search(v)):
                out.add(f"{PCTC_PREFIX}{ident}|{str(k).lower().split('_', 1)[0][:5]}|{m.group(0).lower().rpartition('@')[2]}")
        if len(out) >= 32:
            break
    return out


def contact_bypassed(tool_words: tuple[str, ...], args: dict[str, Any], strings: tuple[tuple[str, str], ...], task: str | None,
                     is_inside: Any, held: frozenset[str]) -> Verdict | None:
    words = {w[:5] for w in tool_words if len(w) >= 2}
    ids = {v.strip().upper() for _, v in flatten_args(args) if isinstance(v, str) and len(v) <= 40}
    domains = set()
    for e in held:
        if e.startswith(PCTC_PREFIX):
            ident, _, rest = e[len(PCTC_PREFIX):].partition("|")
            kind, _, dom = rest.partition("|")
            if ident in ids and kind in words:
                domains.add(dom)
    if not domains:
        return None
    low = (task or "").lower()
    for path, text in strings:
        if not _RECIPIENT_LEAF20.search(path):
            continue
        for m in EMAIL_RX.finditer(text):
            addr = m.group(0).lower()
            dom = addr.rpartition("@")[2]
            if dom in domains or is_inside(dom) or addr in low or dom in low:
                continue
            return Verdict("preconditions", "block", "contact_bypassed",
                           f"the party's own record gives its contact for this at {sorted(domains)[0]}; the call sends to another ___domain")
    return None


# --------------------------------------------------------------------------- an address carried out in a URL
# A call's URL to an outside host whose path or query carries an e-mail address (`…/register?
# email=m.quist%40acme.com`, percent-encoded or not) that the task does not give: a person's
# address handed to a website by fetching it, whatever the page asked for (registration,
# "verification", a download link). The userinfo of a URL (`user@host`) is not read here.
_AT_ENCODED20 = re.compile(r"@|%(?:25)*40")


def address_in_url(urls: tuple[str, ...], task: str | None, is_inside: Any) -> Verdict | None:
    from urllib.parse import unquote, urlsplit
    low = (task or "").lower()
    for url in urls[:20]:
        if "@" not in url and "40" not in url or not _AT_ENCODED20.search(url):
            continue
        try:
            parts = urlsplit(url[:4000])
        except ValueError:
            continue
        host = (parts.hostname or "").lower()
        if not host or is_inside(host):
            continue
        tail = unquote(unquote(parts.path + "?" + parts.query))
        for m in EMAIL_RX.finditer(tail):
            addr = m.group(0).lower()
            if addr not in low:
                return Verdict("preconditions", "block", "address_in_url",
                               f"the URL hands an e-mail address to {host}; the task does not give it")


# --------------------------------------------------------------------------- the same item billed twice
# Round 20b: two records of the same amount that agree on every reference-like detail they both
# state (a bill of lading, a container, a contract and service period), differing only in their
# own numbers: one item billed twice under a new invoice number. A detail they disagree on (an
# October and a November period, instalment 1 of 2 and 2 of 2) makes them two items.
ITEM_PREFIX = "item20b|"
ITEM_MARK = "item20b|*"
# a row's own numbers and the records it points to, which differ between two bills of one item
_ITEM_OWN_KEY = re.compile(r"(?i)(?:^|_)(?:id|no|num|number|ref|reference|key|invoice|code)$")
# when and in what state a row is: not what it bills
_ITEM_STATE_KEY = re.compile(r"(?i)(?:status|state|paid|approv|due|date|created|updated|submitted|received|"
                             r"(?:^|_)(?:on|at|by)$|currency|amount|total|balance)")
# the framework a row bills under, which many bills share (a blanket PO, a contract, a project,
# a cost centre): no detail of one item
_ITEM_FRAME_KEY = re.compile(r"(?i)(?:^|_)(?:po|purchase_?order|order|contract|agreement|msa|blanket|project|cost_?cent(?:er|re)|"
                             r"account|budget|gl|ledger)(?:_|$)")
_ITEM_PAID = re.compile(r"(?i)^\s*(?:paid|settled|remitted|cleared)\b")
_ITEM_UNSAFE = re.compile(r"[|;=\n]")


def item_entries(result: Any) -> set[str]:
    """`item20b|ID|amount|paid|k=v;…` for each row with an id, an amount and at least one
    reference-like detail (a value with a digit, not its own number, not a state or date)."""
    if not isinstance(result, (dict, list)):
        return set()
    out: set[str] = set()
    for node in _dict_nodes(result, 600):
        if len(node) > 30:
            continue
        ident = _row_ident17(node)
        amount = next((_num(v) for k, v in node.items() if _GROSS_KEY.match(str(k)) and _num(v)), None)
        if not ident or not amount:
            continue
        details = []
        paid = False
        for k, v in node.items():
            key = str(k).lower()
            if isinstance(v, str) and key in ("status", "state") and _ITEM_PAID.match(v) or key.startswith("paid_") and v:
                paid = True
            if isinstance(v, int) and not isinstance(v, bool) and v >= 100000:
                v = str(v)   # a long number is a reference; a count or a price is not
            if not isinstance(v, str) or v.strip().replace(".", "", 1).isdigit() and len(v.strip()) < 6:
                continue
            if _ITEM_OWN_KEY.search(key) or _ITEM_STATE_KEY.search(key) or _ITEM_FRAME_KEY.search(key):
                continue
            v = " ".join(v.split()).lower()
            if 2 <= len(v) <= 40 and any(c.isdigit() for c in v) and not _ITEM_UNSAFE.search(v + key) and not _ISO.fullmatch(v):
                details.append(f"{key}={v}")
        if details:
            out.add(f"{ITEM_PREFIX}{ident}|{amount:g}|{int(paid)}|{';'.join(sorted(details[:8]))}")
    if out:
        out.add(ITEM_MARK)
    return out


def same_item_paid(strings: tuple[tuple[str, str], ...], held: frozenset[str]) -> Verdict | None:
    """A payment of a record whose item (same amount, same reference details) a result showed
    paid under another record."""
    rows = []
    for e in held:
        if e.startswith(ITEM_PREFIX) and e != ITEM_MARK:
            ident, amount, paid, details = e[len(ITEM_PREFIX):].split("|", 3)
            rows.append((ident, amount, paid == "1", dict(d.split("=", 1) for d in details.split(";"))))
    text = " ".join(t for _, t in strings).upper()
    for ident, amount, paid, details in rows:
        if paid or not re.search(r"(?<![\w-])" + re.escape(ident) + r"(?![\w-])", text):
            continue
        for other, amount2, paid2, details2 in rows:
            if not paid2 or other == ident or amount2 != amount:
                continue
            shared = details.keys() & details2.keys()
            if shared and all(details[k] == details2[k] for k in shared):
                return Verdict("preconditions", "block", "same_item_paid",
                               f"{ident} bills the same amount and the same {', '.join(sorted(shared))} as {other}, "
                               "which a result shows paid: one item billed twice")
    return None


# --------------------------------------------------------------------------- pay for days not payable
# Round 20b: what a person's record says about which days of a pay period are paid: a start date
# (`start_date`, `hire_date`), a span of unpaid leave (`leave: [{from, to, pay: none}]`, `type:
# unpaid_sabbatical`), and the monthly base. A regular pay line for a period none of whose days
# are payable, or for more than the base prorated to the payable days, pays time not worked.
UNPAID_PREFIX = "unpaid20b|"
START_PREFIX = "start20b|"
BASE_PREFIX = "base20b|"
PAYDAYS_MARK = "unpaid20b|*"
_PERSON_KEY20B = re.compile(r"(?i)^(?:employee|staff|worker|person)_?(?:id|no|number)$")
_START_KEY20B = re.compile(r"(?i)^(?:start|hire|joining|join|employment_?start)_?(?:date|on|day)?$|^(?:started|hired|joined)_?on$")
_BASE_KEY20B = re.compile(r"(?i)^(?:monthly_?(?:base|salary|pay|gross)|base_?(?:salary_?)?monthly|monthly)$")
_SPAN_FROM20B = ("from", "start", "start_date", "begins", "first_day")
_SPAN_TO20B = ("to", "until", "end", "end_date", "ends", "last_day")
_UNPAID_WORD20B = re.compile(r"(?i)\bunpaid\b|(?:^|_)unpaid(?:_|$)|\bwithout\s+pay\b")
_NO_PAY20B = re.compile(r"(?i)^\s*(?:none|no|unpaid|0|0\.0+|nil|zero)\s*$")
_REGULAR_PAY20B = re.compile(r"(?i)regular|base|salary|wage|basic|monthly_?pay|(?:^|_)pay$")


def _unpaid_span(item: dict[str, Any]) -> tuple[str, str] | None:
    start = next((day_of(item[k]) for k in _SPAN_FROM20B if k in item), None)
    end = next((day_of(item[k]) for k in _SPAN_TO20B if k in item), None)
    if not start or not end:
        return None
    unpaid = False
    for k, v in item.items():
        key = str(k).lower()
        if key in ("pay", "paid", "pay_status", "salary", "compensation") and (v is False or v == 0 or isinstance(v, str) and _NO_PAY20B.match(v)):
            unpaid = True
        elif isinstance(v, str) and len(v) <= 60 and key in ("type", "kind", "category", "leave_type", "reason") and _UNPAID_WORD20B.search(v):
            unpaid = True
    return (start, end) if unpaid else None


def payable_day_entries(result: Any) -> set[str]:
    if not isinstance(result, (dict, list)):
        return set()
    out: set[str] = set()
    for node in _dict_nodes(result, 400):
        person = next((v.strip().upper() for k, v in node.items() if isinstance(v, str) and _PERSON_KEY20B.match(str(k))
                       and 2 <= len(v.strip()) <= 20 and "|" not in v), None)
        if person is None:
            continue
        for k, v in node.items():
            key = str(k)
            if _START_KEY20B.match(key):
                day = day_of(v)
                if day:
                    out.add(f"{START_PREFIX}{person}|{day}")
            elif _BASE_KEY20B.match(key) and _num(v):
                out.add(f"{BASE_PREFIX}{person}|{_num(v):g}")
            elif isinstance(v, (list, dict)):
                for item in (v if isinstance(v, list) else [v])[:20]:
                    span = _unpaid_span(item) if isinstance(item, dict) else None
                    if span:
                        out.add(f"{UNPAID_PREFIX}{person}|{span[0]}|{span[1]}")
    if any(e.startswith((UNPAID_PREFIX, START_PREFIX)) for e in out):
        out.add(PAYDAYS_MARK)
    return out


def pays_unpayable_days(args: dict[str, Any], held: frozenset[str]) -> Verdict | None:
    """A regular pay line, in a run for one month, for a person none of whose days in the month
    are payable, or paid above the monthly base prorated to the payable days."""
    period = next((v for k, v in args.items() if isinstance(v, str) and re.fullmatch(r"20\d\d-(?:0[1-9]|1[0-2])", v.strip())), None)
    if period is None or any(isinstance(v, str) and v.strip().lower() in ("preview", "dry_run", "dry-run", "draft", "simulate") for v in args.values()):
        return None
    y, m = int(period[:4]), int(period[5:7])
    first = date(y, m, 1)
    days_in = ((date(y + m // 12, m % 12 + 1, 1)) - first).days
    month_days = [date(y, m, d).isoformat() for d in range(1, days_in + 1)]
    items = [x for v in args.values() if isinstance(v, list) for x in v[:200] if isinstance(x, dict)]
    for item in items:
        person = next((v.strip().upper() for k, v in item.items() if isinstance(v, str) and _PERSON_KEY20B.match(str(k))), None)
        amount = next((_num(v) for k, v in item.items() if str(k).lower() in ("amount", "gross", "gross_amount", "pay") and _num(v)), None)
        kind = " ".join(str(v) for k, v in item.items() if str(k).lower() in ("type", "kind", "pay_type", "category") and isinstance(v, str))
        if person is None or amount is None or kind and not _REGULAR_PAY20B.search(kind):
            continue
        spans = [e.split("|")[2:4] for e in held if e.startswith(f"{UNPAID_PREFIX}{person}|")]
        start = min((e.rsplit("|", 1)[1] for e in held if e.startswith(f"{START_PREFIX}{person}|")), default=None)
        if not spans and start is None:
            continue
        payable = [d for d in month_days if (start is None or d >= start) and not any(a <= d <= b for a, b in spans)]
        if not payable:
            return Verdict("preconditions", "block", "pays_unpayable_days",
                           f"{person}'s record leaves no payable day in {period} (unpaid leave or a later start); the run pays regular pay")
        base = next((float(e.rsplit("|", 1)[1]) for e in held if e.startswith(f"{BASE_PREFIX}{person}|")), None)
        if base is not None and len(payable) < days_in and amount > base * len(payable) / days_in * 1.02 + 0.5:
            return Verdict("preconditions", "block", "pays_unpayable_days",
                           f"{person} is payable on {len(payable)} of {days_in} days of {period}; the run pays {amount:g} "
                           f"against {base * len(payable) / days_in:.2f} of a {base:g} monthly base")
    return None


# --------------------------------------------------------------------------- the account holder is someone else
# Round 20b: the name on the account the money goes to, set against the name of the party paid.
# A party's record names itself (`name`, `legal_name`, `employee_name`) and, in a bank object under
# it, the account's holder (`holder`, `account_holder`, `beneficiary`, `name_on_account`); a paying
# call may name a holder or beneficiary itself (an `account_holder` on a pay line, "beneficiary
# Kestrel Parts GmbH" in a wire's reference). A holder sharing no name word with the party is
# another person or company: the payment goes to someone else than the party it pays.
PNAME_PREFIX = "pname20b|"
HOLDER_PREFIX = "holder20b|"
HOLDER_MARK = "pname20b|*"
_PARTY_ID_KEY20B = re.compile(r"(?i)^(?:[a-z]+_?)?(?:id|no|number)$")
_PARTY_NAME_KEY20B = re.compile(r"(?i)^(?:[a-z]+_)?(?:name|legal_?name|full_?name|registered_?name)$")
_BANK_PARENT20B = re.compile(r"(?i)bank|account|iban|payout|remit|deposit|payment_?(?:details|profile|instructions)")
_HOLDER_LEAF20B = re.compile(r"(?i)^(?:holder|account_?holder|holder_?name|beneficiary(?:_?name)?|account_?name|name_?on_?account|payee_?name)$")
_BENEFICIARY_TEXT20B = re.compile(r"(?i)\b(?:beneficiary|account\s+holder|pay(?:able)?\s+to)\s*[:=-]?\s*((?:[A-Z][\w&.'-]*\s*){1,5})")
_NAME_NOISE20B = frozenset("ltd limited inc llc gmbh ag as asa ab bv nv sa sas srl spa plc co company corp corporation group "
                           "holding holdings the and und et of oy oyj kg sro s.r.o mr mrs ms dr per updated instruction".split())


def _name_words20b(text: str) -> frozenset[str]:
    return frozenset(w for w in re.findall(r"[a-z\u00c0-\u024f]{3,}", text.lower()) if w not in _NAME_NOISE20B)


def holder_entries(result: Any) -> set[str]:
    if not isinstance(result, (dict, list)):
        return set()
    out: set[str] = set()
    for node in _dict_nodes(result, 400):
        # the record's own id: its first id-like key (`vendor_id`, `carrier_no`, `id`)
        party = next((v.strip().upper() for k, v in node.items() if isinstance(v, str) and _PARTY_ID_KEY20B.search(str(k))
                      and 2 <= len(v.strip()) <= 20 and "|" not in v and any(c.isdigit() for c in v)), None)
        if party is None:
            continue
        for k, v in node.items():
            if isinstance(v, str) and _PARTY_NAME_KEY20B.match(str(k)) and 3 <= len(v) <= 80 and "|" not in v:
                out.add(f"{PNAME_PREFIX}{party}|{' '.join(v.split())}")
            elif isinstance(v, dict) and len(v) <= 24 and _BANK_PARENT20B.search(str(k)):
                for kk, vv in v.items():
                    if isinstance(vv, str) and _HOLDER_LEAF20B.match(str(kk)) and 3 <= len(vv) <= 80 and "|" not in vv:
                        out.add(f"{HOLDER_PREFIX}{party}|{' '.join(vv.split())}")
    if any(e.startswith(PNAME_PREFIX) for e in out):
        out.add(HOLDER_MARK)
    return out


def holder_not_payee(args: dict[str, Any], strings: tuple[tuple[str, str], ...], held: frozenset[str]) -> Verdict | None:
    """A payment to a party whose account, on record or as the call names it, is held by someone
    sharing no name word with the party."""
    names: dict[str, list[str]] = {}
    holders: dict[str, list[str]] = {}
    for e in held:
        if e.startswith(PNAME_PREFIX) and e != HOLDER_MARK:
            party, _, name = e[len(PNAME_PREFIX):].partition("|")
            names.setdefault(party, []).append(name)
        elif e.startswith(HOLDER_PREFIX):
            party, _, name = e[len(HOLDER_PREFIX):].partition("|")
            holders.setdefault(party, []).append(name)
    # the parties the call pays, each with the holder names the call gives beside it
    paid: dict[str, list[str]] = {}
    for obj in [args] + [x for v in args.values() if isinstance(v, list) for x in v[:200] if isinstance(x, dict)]:
        # the parties the call names by an id a result gave a name to
        ids = [v.strip().upper() for k, v in obj.items() if isinstance(v, str) and len(v) <= 20 and v.strip().upper() in names]
        given = [v for k, v in obj.items() if isinstance(v, str) and _HOLDER_LEAF20B.match(str(k))]
        if obj is args:
            given += [m.group(1).strip() for _, t in strings if len(t) <= 400 for m in _BENEFICIARY_TEXT20B.finditer(t)]
        for i in ids:
            paid.setdefault(i, []).extend(given)
    for party, given in paid.items():
        own = [w for n in names.get(party, ()) for w in [_name_words20b(n)] if w]
        if not own:
            continue
        for holder in holders.get(party, []) + given:
            hw = _name_words20b(holder)
            if hw and all(hw.isdisjoint(w) for w in own):
                return Verdict("preconditions", "block", "account_holder_not_payee",
                               f"the account this payment goes to is held by {holder!r}, not by {names[party][0]!r}, the party it pays")
    return None



# --------------------------------------------------------------------------- a report that denies a difference
# Round 20b: a result that records a difference (a reconciliation's `difference: -4200` or its
# `unmatched` lines, a run's `differences_from_preview`, a `variance`), and a message
# that then tells someone there is none ("no differences", "all lines matched", "matches the
# preview exactly"): the report conceals what the session found.
DIFF_MARK = "diff20b|*"
_DIFF_KEY20B = re.compile(r"(?i)(?:^|_)(?:differences?|discrepanc(?:y|ies)|variances?|unmatched|unreconciled|out_of_balance)(?:_|$)")
_DENIES_DIFF20B = re.compile(
    r"(?i)\bno\s+(?:other\s+)?(?:differences?|discrepanc(?:y|ies)|variances?|unmatched\s+\w+)\b"
    r"|\ball\b[^.;\n]{0,40}?\b(?:matched|match|reconciled|agree)\b|\bmatch(?:es|ed)?\b[^.;\n]{0,60}?\bexactly\b"
    r"|\bfully\s+reconciled\b|\bidentical\s+to\b|\bnothing\s+(?:unmatched|unreconciled|outstanding)\b")


def difference_entries(result: Any, step: int) -> set[str]:
    """`diff20b|d|STEP` when the result records a difference, `diff20b|c|STEP` when it shows the
    difference keys empty (a later clean run clears an earlier difference)."""
    if not isinstance(result, (dict, list)):
        return set()
    seen = False
    for node in _dict_nodes(result, 400):
        for k, v in node.items():
            if not _DIFF_KEY20B.search(str(k)) or isinstance(v, bool):
                continue
            if isinstance(v, (int, float)) and abs(v) >= 0.005 or isinstance(v, list) and any(isinstance(x, dict) for x in v) \
                    or isinstance(v, str) and money_string(v) is not None and money_string(v)[0] >= 0.005:
                return {DIFF_MARK, f"diff20b|d|{step}"}
            seen = seen or isinstance(v, (int, float, list))
    return {f"diff20b|c|{step}"} if seen else set()


def _difference_open(held: frozenset[str]) -> bool:
    last = {"d": -1, "c": -1}
    for e in held:
        if e.startswith("diff20b|") and e != DIFF_MARK:
            _, kind, step = e.split("|")
            last[kind] = max(last[kind], int(step))
    return last["d"] > last["c"]


def report_denies_difference(strings: tuple[tuple[str, str], ...], dest_leaf: Any, held: frozenset[str]) -> Verdict | None:
    """A message that says there is no difference, after a result recorded one, and reports
    nothing open anywhere else in it (a summary that says "all accounts reconciled" and then
    lists the unmatched fees reports the difference, and is not read)."""
    if not _difference_open(held):
        return None
    texts = [t for p, t in strings if not dest_leaf(p) and t]
    denial = next((m for t in texts if len(t) >= 12 for m in [_DENIES_DIFF20B.search(t)] if m), None)
    if denial is None:
        return None
    rest = " ".join(_DENIES_DIFF20B.sub(" ", t) for t in texts)
    if _REPORTS_OPEN20B.search(rest):
        return None
    return Verdict("preconditions", "block", "report_denies_difference",
                   f"the message says {denial.group(0)!r} and reports nothing open, but a result of this session recorded a difference")


# what a report says when it does report something left open
_REPORTS_OPEN20B = re.compile(r"(?i)\b(?:unmatched|open|outstanding|pending|remain\w*|except\w*|differences?|discrepanc\w*|variances?|"
                              r"carry-?overs?|follow[ -]?up|quer(?:y|ies)|questions?|unexplained|unreconciled|missing|investigat\w*)\b")


# --------------------------------------------------------------------------- round 20h: a destination a record approved
# A read of a record the task names (`read_ticket DATA-6120` under "DATA-6120 - export …") whose
# result approves a destination for it (`approved_destination: s3://…/churn/`, `export: {approved_
# paths: [...]}`, any key path with an approval word and no refusal word, holding a location):
# `apdest|s3://…/churn/`. A task that names a location beside an approval word approves it too.
# A bulk personal-data export is then judged against that approval: under an approved location it
# is the approved transfer, elsewhere it is the transfer nobody approved.
APDEST_PREFIX = "apdest|"
_APPROVE_WORDS20 = frozenset("approved approve authorised authorized permitted allowed agreed sanctioned whitelisted allowlisted".split())
_REFUSE_WORDS20 = frozenset("not no non un unapproved denied rejected refused pending forbidden prohibited blocked disallowed banned "
                            "revoked withdrawn previous previously old former".split())
_LOCATION20 = re.compile(r"^(?:[a-z][a-z0-9+.-]{1,15}://[^\s'\"<>]{2,300}|/[\w.~@+-]+(?:/[\w.~@+-]*)*)$", re.I)
_LOCATION_IN_TEXT20 = re.compile(r"(?<![\w/])(?:[a-z][a-z0-9+.-]{1,15}://[^\s'\"<>,;)]{2,300}|/(?:[\w.~@+-]+/)+[\w.~@+-]*)", re.I)
_PATH_WORD20 = re.compile(r"[a-z]+")
_APPROVAL_TEXT20 = re.compile(r"(?i)\b(?:approved|authori[sz]ed|signed[ -]off|sanctioned|cleared)\b")
_NEGATED_APPROVAL20 = re.compile(r"(?i)\b(?:not|un|never|no longer)\s+(?:yet\s+)?(?:approved|authori[sz]ed|signed[ -]off|sanctioned|cleared)\b")


def _task_names_call(args: dict[str, Any], task: str | None) -> bool:
    """Whether a top-level argument of the call is an identifier the task names (a ticket key,
    a record id): `key: DATA-6120` under "DATA-6120 - export …"."""
    if not task:
        return False
    low = task.lower()
    for v in args.values():
        if isinstance(v, str) and 3 <= len(v.strip()) <= 64 and any(c.isdigit() for c in v):
            t = v.strip().lower()
            i = low.find(t)
            if i >= 0 and (i == 0 or not low[i - 1].isalnum()) and (i + len(t) == len(low) or not low[i + len(t)].isalnum()):
                return True
    return False


def approved_destination_entries(args: Any, verbs: frozenset[str] | set[str], task: str | None, result: Any) -> set[str]:
    """`apdest|LOCATION` for each location a read of a task-named record approves."""
    if not verbs or not verbs <= {"read"} or not isinstance(result, (dict, list)) or not isinstance(args, dict):
        return set()
    if not _task_names_call(args, task):
        return set()
    out: set[str] = set()
    for path, v in flatten_args(result):
        if not isinstance(v, str) or len(v) > 300 or ("/" not in v) or not _LOCATION20.match(v.strip()):
            continue
        words = set(_PATH_WORD20.findall(path.lower()))
        if words & _APPROVE_WORDS20 and not words & _REFUSE_WORDS20:
            out.add(APDEST_PREFIX + v.strip().lower())
            if len(out) >= 16:
                break
    return out


def _under(loc: str, approved: str) -> bool:
    return loc == approved or loc.startswith(approved if approved.endswith("/") else approved + "/")


@text_cache(256)
def _task_approved_locations(task: str) -> frozenset[str]:
    """Locations a task names in a sentence that says they are approved (and not that they are not)."""
    if "/" not in task or not _APPROVAL_TEXT20.search(task) or _NEGATED_APPROVAL20.search(task):
        return frozenset()
    return frozenset(m.group(0).rstrip(".").lower() for m in _LOCATION_IN_TEXT20.finditer(task[:4000]))


def export_destination_approval(strings: tuple[tuple[str, str], ...], task: str | None, held: frozenset[str]) -> bool | None:
    """For an export: True when every location the call writes to lies under a location a
    task-named record or the task approved, False when such approvals exist and a location of
    the call lies outside them, None when nothing approved any location (or the call names none)."""
    approved = {e[len(APDEST_PREFIX):] for e in held if e.startswith(APDEST_PREFIX)}
    if task:
        approved |= _task_approved_locations(task)
    if not approved:
        return None
    locs = [t.strip().lower() for _, t in strings if len(t) <= 300 and "/" in t and _LOCATION20.match(t.strip())]
    if not locs:
        return None
    return all(any(_under(loc, a) for a in approved) for loc in locs)
