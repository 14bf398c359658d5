"""Session state as pure data: the task imprint, the monotone risk state and provenance.

A `SessionSnapshot` is immutable; the core returns a new one for every allowed or observed
call. Stores (memory, Redis) persist snapshots as JSON via `to_json`/`from_json`.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from datetime import date
from itertools import islice
from typing import Any

import numpy as np
import orjson

from gate.core.actions import EMAIL_RX, URL_RX, ActionFeatures, flatten_args, fold_host_text, is_internal
from gate.core.detectors import find_pii, find_secrets, is_placeholder_secret
from gate.core.timing import NOW_KEY, NOW_PREFIX, WINDOW_KEY, date_output, parse_moment, parse_window
from gate.core.memo import text_cache

__all__ = [
    "APPROVAL_MISSING_MARK",
    "EVENT_PREFIX",
    "APPROVAL_GIVEN_MARK",
    "SessionSnapshot",
    "SnapshotError",
    "EMPTY_SESSION",
    "RISK_LEVELS",
    "ESCALATION_LEVELS",
    "escalation_of",
    "egress_targets",
    "is_sanctioned",
    "reversibility_of",
    "result_provenance",
    "Provenance",
    "salient_tokens",
    "INJECTION_RX",
    "flow_tokens",
    "pressure_of",
    "held_records",
    "message_channel",
    "NO_CHANNEL_PREFIX",
    "REFUSED_PREFIX",
    "REFUSED_MARK",
    "PARTY18_PREFIX",
    "PARTY18_MARK",
    "REFUSED_CHANGE",
    "REFUSED_OBJ20A",
    "REFUSED_OBJ_MARK20A",
    "act_stem",
    "CURRENCY_PREFIX",
    "EXTREF_PREFIX",
    "RESENT_SUFFIX",
    "content_shingles",
    "fingerprint",
    "secret_fingerprint",
    "secret_fingerprints",
    "destination_tokens",
    "SPENT_STATUS",
    "BODY_LEAF",
    "PAID_STATUS",
    "NO_DISCLOSURE",
    "NO_MARKETING",
    "SELF_APPROVED",
    "CREATOR_PREFIX",
    "SOD_MARK",
    "APPROVER_PREFIX",
    "CREDIT_DOCUMENT",
    "ORDER_CANCELLED",
    "NO_RECORDING_CONSENT",
    "NO_RECORDING_MARK",
    "BIND_PREFIX",
    "SPEND_PREFIX",
    "REFUNDED_PREFIX",
    "COMPANY_PAID",
    "PAYMENT_HOLD",
    "DUE_PREFIX",
    "AMOUNT_PREFIX",
    "UNPAID_STATUS",
    "RESTRICTED_STATUS",
    "MARKED_PREFIX",
    "HOLD_STATUS",
    "result_failed",
    "result_error",
    "OUTCOME_UNKNOWN",
    "person_key",
    "OWNER_PREFIX",
    "REQUESTER_PREFIX",
    "clock_entries",
    "NONE_APPROVED",
    "CHARGES_PREFIX",
    "DUP_LINE_PREFIX",
    "REFUNDED_LINE_PREFIX",
    "PAID_OUT_PREFIX",
    "CREDITED_PREFIX",
    "approved_listing",
    "item_prices",
    "PRICE_PREFIX",
    "ITEM_ARG",
    "event_dates",
    "APPROVED_AMOUNT_PREFIX",
    "money_string",
    "BANK_CHANGE_UNVERIFIED",
    "table_rows",
    "BANK_PREFIX",
    "EMPLOYEE_ACCOUNT",
    "INSTALMENTS",
    "store_names",
    "carried_values",
    "LADEN_CAP",
    "HOT_PREFIX",
    "DOMAIN_PREFIX",
]

RISK_LEVELS = ("SAFE", "MILD", "ELEVATED", "CRITICAL", "VIOLATED")
ESCALATION_LEVELS = ("read_only", "write", "execute", "network")
_REVERSIBILITY = {"yes": 0, "partial": 1, "no": 2}

# Account-like identifiers that can be a payment or messaging destination.
_ACCOUNT_RX = re.compile(r"\b(?:[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?|\d{8,17})\b")
_PHONE_RX = re.compile(r"\+\d[\d ()-]{7,}\d")
_A_DIGIT = re.compile(r"\d")
_COLUMN_SECRET = re.compile(r"(?im)^[ \t]{0,8}[a-z_]{0,30}(?:secret|token|password|passwd|api_?key)(?:_id)?[ \t]{2,40}([A-Za-z0-9][\w./+=:-]{7,200})[ \t]*$")
BODY_LEAF = re.compile(r"(?i)(?:^|[._])(?:text|body|message|content|note|notes|comment|description|summary|subject|html|markdown)(?:\[\d+\])?$")


def egress_targets(f: ActionFeatures) -> tuple[str, ...]:
    """Explicit outbound destinations of a call: external hosts and, for payments, accounts."""
    # A tool the policy declares internal may still name an obviously external host; bare
    # names (buckets, cluster services) are taken at the policy's word.
    if f.destination == "internal":
        targets = [d for d in f.external_domains if "." in d]
    else:
        targets = list(f.external_domains)
        if any("." not in d for d in targets):
            # A bare name (a bucket, a cluster service) mentioned only in a message body is a
            # reference the message makes, not where the message goes.
            elsewhere = {m.group(1).lower() for path, text in f.strings if not BODY_LEAF.search(path)
                         for m in URL_RX.finditer(text)}
            targets = [d for d in targets if "." in d or d in elsewhere]
    if "pay" in f.verbs:
        for _, text in f.strings:
            targets.extend(m.group(0).replace(" ", "").upper() for m in _ACCOUNT_RX.finditer(text))
    return tuple(dict.fromkeys(targets))


def escalation_of(f: ActionFeatures, unsanctioned_egress: bool) -> int:
    """0 read-only, 1 write (or a send through the tool's own configured endpoint),
    2 code execution or privilege change, 3 egress to a destination nobody sanctioned."""
    if unsanctioned_egress and f.verbs & {"send", "pay", "write", "execute", "grant", "configure"}:
        return 3
    if f.verbs & {"execute", "grant"}:
        return 2
    if f.verbs & {"write", "delete", "configure", "send", "pay"}:
        return 1
    return 0


def is_sanctioned(target: str, trusted: frozenset[str], internal: tuple[str, ...]) -> bool:
    """A destination named by the task or identity, vouched for by a system-of-record field,
    or internal."""
    t = target.lower() if "@" in target or "." in target else target
    return t in trusted or target in trusted or ("." in t and is_internal(t.split("@")[-1], internal))


def reversibility_of(f: ActionFeatures) -> int:
    return _REVERSIBILITY.get(f.reversible, 1)


def secret_fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:16]


# What separates a secret's label from its value (`db_password   = "Qv7!…"`, `password is …`).
_SECRET_LABEL_SEP = re.compile(r"[\s'\"`:=]+")


def secret_fingerprints(span: str, kind: str = "") -> set[str]:
    """Fingerprints of one secret found in a text: of the whole match and, when the match
    carries a label (`db_password = "…"`, `Bearer …`), of the value alone, so the same secret
    copied under other spacing, quoting or label (`password: …`) is still recognised.
    A private key block is recognised whole (its last line is the same for every key)."""
    out = {secret_fingerprint(span)}
    if kind != "private_key":
        value = _SECRET_LABEL_SEP.split(span.strip())[-1]
        if len(value) >= 8 and value != span:
            out.add(secret_fingerprint("value:" + value))
    return out


def destination_tokens(text: str) -> set[str]:
    """Destinations named in free text: e-mail addresses, URL hosts, account numbers, phones
    (read as a mail server or browser reads them: `evil\u3002com` is evil.com)."""
    out: set[str] = set()
    if not text.isascii():
        text = fold_host_text(text)
    # each pattern runs only on text that holds what every one of its matches must contain
    if "@" in text:
        for m in EMAIL_RX.finditer(text):
            out.add(m.group(0).lower())
            out.add(m.group(1).lower())
    if "://" in text:
        for m in URL_RX.finditer(text):
            out.add(m.group(1).lower())
    if "#" in text:
        # a chat channel (`#ext-riskwise`): where a post goes
        out.update(m.group(0) for m in _CHANNEL_RX.finditer(text))
    if _A_DIGIT.search(text) is None:
        return out
    for m in _ACCOUNT_RX.finditer(text):
        out.add(m.group(0).replace(" ", "").upper())
    if "+" in text:
        for m in _PHONE_RX.finditer(text):
            out.add(re.sub(r"\D", "", m.group(0)))
    return out


# a chat channel as chat tools write it: lower case (`#inc-5140`), not a reference (`#PA-884120`)
_CHANNEL_RX = re.compile(r"(?<![\w&#/])#[a-z][a-z0-9_-]{2,79}(?![\w#])")
# A ___domain named bare in prose (`dcbench is run from the ___domain dcbench-results.net`): kept in
# `tainted` as `~dom:` + ___domain, so a host assembled under it (`ingest.dcbench-results.net`, a
# name no result gave whole) is known to come from results too.
DOMAIN_PREFIX = "~dom:"
_BARE_DOMAIN = re.compile(
    r"(?<![\w@/.:-])((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:com|net|org|io|dev|co|ai|app|cloud|info|biz|xyz|site|online|tech|"
    r"us|uk|de|eu|fr|nl|ch|se|no|es|it|be|at|dk|fi|pl|pt|ie|ca|au|in|jp|me|cc|sh|tv|gg|to|ly|so|run|page|link|pro))(?![\w-]|\.[a-z0-9])", re.I)
_PROSE_MIN_WORDS = 6

# Text in a tool result that addresses the agent rather than the user: the marks of an
# injected instruction (indirect prompt injection).
INJECTION_RX = re.compile(
    r"(?i)(?:\bignore\s+(?:all\s+|any\s+)?(?:the\s+)?(?:previous|prior|above|earlier)\s+(?:instructions|directions|rules)"
    r"|\bdisregard\s+(?:all\s+|the\s+)?(?:previous|prior|above)"
    r"|\[\s*(?:system|admin|assistant|ai|instructions?)\b[^\]]{0,40}\]"
    r"|#{2,}\s*system|<\s*/?\s*(?:system|important|instructions?)\s*>"
    r"|\b(?:note|instructions?|message|request)\s+(?:to|for)\s+(?:the\s+|any\s+)?(?:ai|assistant|automated\s+assistant|agent|llm|model|bot|[\w-]+\s+(?:assistant|agent|ai))\b"
    r"|\b(?:assistant|ai|agent)\s*:\s*(?:before|please|now|you|first|also|fetch|send|read|look|create|run|forward|export|add|grant|give|move|share)"
    # addressed to automated readers as a group: `AI research assistants: register…`, `Note for automated tools:`
    r"|\b(?:(?:ai|automated|automation|llm)(?:[\s-]+[\w-]+)?\s+(?:assistants|agents|tools|bots|systems)"
    r"|(?:note|instructions?|message|request)\s+(?:to|for)\s+(?:all\s+|any\s+)?(?:automated|automation)\s+[\w-]+(?:\s+[\w-]+)?)"
    r"\s*:\s*(?:please\s+|you\s+(?:must|should)\s+|always\s+|first\s+|before\s+\w+ing\b[^.:]{0,80}?,\s*)?"
    r"(?:register|run|push|send|open|fetch|visit|add|append|ignore|execute|call|post|upload|copy|forward|set|disable|complete|"
    r"click|sign|include|reply|e-?mail|delete|scale|install|update|transfer|pay|grant|share)\b"
    r"|\bsystem\s+(?:override|prompt|instruction|note|notice)|\bnew\s+instructions?\b"
    r"|\bas\s+the\s+(?:[\w-]+\s+)?(?:assistant|agent|ai)\b|\byou\s+(?:must|should)\s+now\b"
    r"|\bdo\s+not\s+(?:tell|inform|mention|notify)\b[^.]{0,30}\buser\b"
    r"|\bcrawler\s+check\b|\bstatus\s+override\b|\btreat\s+(?:this\s+|it\s+)?as\s+approved\b)"
)
# Marks of social engineering in a task (business e-mail compromise, pretexting): each family
# counts once. Pressure alone is ordinary in an incident; pressure plus an unverifiable claim
# of authority or a recovery lure is the pattern.
PRESSURE_FAMILIES: tuple[tuple[str, re.Pattern[str]], ...] = tuple((name, re.compile(rx)) for name, rx in (
    ("urgency", r"(?i)\b(?:urgent(?:ly)?|asap|immediately|right\s+(?:now|away)|no\s+time\s+(?:to|for)|hurry|"
                r"before\s+the\s+(?:board|audit\w*|demo|deadline|call|meeting)|within\s+the\s+(?:hour|next\s+\d+\s+min\w*))\b"),
    ("indirect_channel", r"(?i)(?:(?:^|[\s(\"'])(?:chat|e-?mail|call|phone\s+call|message|text|sms|dm|voicemail|whatsapp|slack|teams|signal|telegram|"
                         r"live\s+chat)(?:\s+#?[\w-]*\d[\w-]*)?\s+from\s+(?!(?:the|our|my|a)\s+(?:queue|backlog|inbox|list|board|pool)\b)['\"@]?[\w@]"
                         # a ticket from a customer or a team is queue intake; from a bare address it is a channel
                         r"|(?:^|[\s(\"'])ticket(?:\s+#?[\w-]*\d[\w-]*)?\s+from\s+[^:\n@]{0,60}@"
                         r"|(?:^|[\s(\"'])(?:live\s+chat|chat|phone\s+call|call|voicemail|sms|whatsapp)\s*:\s*['\"]"
                         r"|\b(?:a\s+|the\s+)?(?:caller|someone|somebody|a\s+person|sender)\s+(?:says|said|claims?|claiming)\b)"),
    ("claimed_authority", r"(?i)\b(?:ceo|cfo|cto|coo|ciso|president|vp|vice\s+president|director|head\s+of|"
                          r"(?:it|security)\s+(?:team|lead|department)|auditor|release[- ]manager|board|"
                          r"law[- ]enforcement|subpoena|court\s+order|detective|sergeant|special\s+agent|police\s+(?:officer|department|dept)"
                          # round 20e: an approval relayed second-hand ("my manager Carla said IT should …")
                          r"|(?:my|his|her|their|our)\s+(?:manager|boss|supervisor|team\s+lead)\s+(?:\w+\s+)?(?:said|says|told|asked|approved|wants|okayed))\b"),
    ("approval_bypass", r"(?i)\b(?:i\s+approve|pre-?approved|already\s+approved|skip(?:ping)?\s+(?:the\s+)?(?:approval|review|check|ticket)s?|"
                        r"bypass|no\s+need\s+(?:to|for)\s+(?:check|verify|approval|a\s+ticket|wait(?:ing)?\s+for|loop|involve|tell|inform|notify|bother|cc|copy|ask|escalate)|don'?t\s+(?:wait|tell|loop|bother)|"
                        r"keep\s+(?:this|it)\s+(?:quiet|confidential|between\s+us)|--no-verify|"
                        r"(?:do\s+not|don'?t)\s+(?:escalate|loop\s+in|involve|cc|copy\s+in)|without\s+escalating)\b"),
    ("recovery_lure", r"(?i)\b(?:locked\s+out|changed\s+(?:my\s+)?phones?|lost\s+(?:my\s+)?(?:phone|access)|"
                      r"(?:our|my|their)\s+(?:new\s+)?bank(?:\s+details|\s+account)?\s+(?:has\s+)?changed|new\s+(?:bank\s+)?account\s+(?:number|details)|"
                      r"gift\s+cards?|personal\s+(?:e-?mail|address|phone))\b"),
    ("personal_mailbox", r"(?i)@(?:gmail|outlook|hotmail|yahoo|proton(?:mail)?|icloud|aol|gmx|mail)\.(?:com|me|net|de)\b"),
))


# Literal words one of which every match of a family contains (lower-cased ASCII): one scan of
# the text wakes only the families worth running (tests/test_session.py checks the claim).
_PRESSURE_TRIGGERS: dict[str, tuple[str, ...]] = {
    "urgency": ("urgent", "asap", "immediately", "right", "time", "hurry", "before", "within"),
    "indirect_channel": ("from", ":", "says", "said", "claim"),
    "claimed_authority": ("ceo", "cfo", "cto", "coo", "ciso", "president", "vp", "director", "head", "team", "lead",
                          "department", "auditor", "manager", "board", "enforcement", "subpoena", "court", "detective",
                          "sergeant", "agent", "police", "supervisor", "boss"),
    "approval_bypass": ("approve", "skip", "bypass", "need", "don", "keep", "no-verify", "not", "escalating"),
    "recovery_lure": ("locked", "changed", "lost", "account", "gift", "personal"),
    "personal_mailbox": ("@",),
}


def pressure_of(text: str) -> tuple[str, ...]:
    """The social-engineering families whose marks appear in `text`."""
    if text.isascii():   # case folding of non-ASCII letters is the regexes' own business
        low = text.lower()
        return tuple(name for name, rx in PRESSURE_FAMILIES
                     if any(t in low for t in _PRESSURE_TRIGGERS[name]) and rx.search(text))
    return tuple(name for name, rx in PRESSURE_FAMILIES if rx.search(text))


_IDENT_RX = re.compile(r"(?<![\w@/.-])(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[A-Za-z0-9][\w-]{3,}(?![\w@])")
_PATHLIKE = re.compile(r"(?:~|\.{1,2})?/[\w./-]{3,}")


_HOME = re.compile(r"^(?:~|\$HOME|/(?:Users|home)/[^/]+|/root)/")


def salient_tokens(text: str) -> set[str]:
    """Values an instruction could steer a call to: destinations, identifiers, paths. A path
    under a home directory also stands as its home-relative form (`~/x` is `/Users/ann/x`)."""
    out = destination_tokens(text)
    out |= {m.group(0).upper() for m in _IDENT_RX.finditer(text)}
    for m in _PATHLIKE.finditer(text):
        path = m.group(0).rstrip(".,;")
        out.add(path)
        rel = _HOME.sub("~/", path)
        if rel != path or path.startswith("~/"):
            out.add(rel)
    return out


# A run of records a task names by its two ends (`CUS-42300 to CUS-42308`, `E20417-E20420`,
# `EXP-8801 through EXP-8821`): same prefix, same digit count, a short span. The task names every
# record in between as much as the two it spells out.
_ID_RANGE = re.compile(r"(?i)(?<![\w-])([a-z][a-z-]*?)(\d{3,})\s*(?:to|through|thru|until|-|\u2013|\u2014|\.\.)\s*(?:\1)?(\d{3,})(?![\w-])")
_ID_RANGE_MAX = 100


@text_cache(512)
def task_tokens(task: str) -> frozenset[str]:
    """`salient_tokens` of a task, with the records of every short id range it names."""
    out = salient_tokens(task)
    for m in _ID_RANGE.finditer(task):
        prefix, a, b = m.groups()
        if len(a) != len(b):
            continue
        lo, hi = int(a), int(b)
        if 0 < hi - lo <= _ID_RANGE_MAX:
            out |= {f"{prefix.upper()}{n:0{len(a)}d}" for n in range(lo, hi + 1)}
    return frozenset(out)


# A record whose status forbids acting on it (an Agent Behavioral Contracts precondition):
# paying a rejected invoice, purging an employee record under legal hold.
_STATUS_KEY = re.compile(r"(?i)^(?:status|state|approval\w*|review\w*|hold\w*|disposition|decision|"
                         r"(?:vendor|supplier|payee|claim|invoice|bill|record|contract|merchant|collection)_?status)$")
_FLAG_KEY = re.compile(r"(?i)^(?:legal_?hold|litigation_?hold|on_?hold|hold|[a-z]+_hold|frozen|blocked|[a-z]+_(?:block(?:ed)?|freeze|frozen)|"
                       r"disputed|fraud\w*|do_?not_?\w+|under_?review|"
                       r"(?:e-?mail_?|marketing_?|sms_?)?(?:opt(?:ed)?_?out|unsubscribed)|dnc|(?:e-?mail_?|marketing_?)?dnc)$")
# Round 17: a flag given as text (`dnc: 'Y'`, `do_not_contact: "yes"`), and an opt-out given as the
# moment it happened (`unsubscribed_at: 2024-09-14T10:22:00Z`, `opted_out_on: 14/09/2024`).
_FLAG_TRUE17 = re.compile(r"(?i)^\s*(?:y|yes|true|1|x|set|on)\s*$")
_DATED_OPTOUT_KEY17 = re.compile(r"(?i)^(?:(?:e-?mail_?|marketing_?|newsletter_?)?(?:unsubscribed|opt(?:ed)?_?out)|do_?not_?contact|dnc)"
                                 r"_?(?:at|on|date|since|time|timestamp)$")
_A_DATE17 = re.compile(r"\b(?:20\d\d-\d\d-\d\d|\d{1,2}[./]\d{1,2}[./]20\d\d)")
# a named party's sign-off (`manager_approval`, `finance_sign_off`, `owner_approval_status`) and
# values that say it has not been given yet
_PARTY_APPROVAL_KEY = re.compile(r"(?i)^[a-z]+_(?:approval|sign_?off|signoff|decision)(?:_?status)?$")
_APPROVAL_OUTSTANDING = re.compile(r"(?i)^\s*(?:awaiting|pending|requested|outstanding|not[ _-](?:yet[ _-])?(?:given|approved|signed|made|taken)|missing|required|open|no|none)\s*$")
_BLOCKING_STATUS = re.compile(
    r"(?i)^\s*(?:pending[ _-]?approval|awaiting[ _-]?approval|unapproved|not[ _-]approved|rejected|declined|denied|duplicate|"
    r"disputed|on[ _-]?hold|legal[ _-]?hold|frozen|blocked|suspended|void(?:ed)?|cancell?ed|under[ _-]?review|flagged|"
    r"do[ _-]not[ _-]\w+|fraud\w*|opted[ _-]?out|unsubscribed|(?:fully[ _-])?refunded|charged[ _-]?back|"
    r"pending[ _-]?(?:onboarding|verification|kyc|due[ _-]?diligence)|not[ _-](?:yet[ _-])?(?:onboarded|verified)|"
    # round 15: a party no longer on the books, a debt never collected
    r"inactive|deactivated|off[ _-]?boarded|uncollectible|written[ _-]?off|bad[ _-]?debt)\s*$")
# Statuses that say a record's money has already gone back (a refunded charge, a charge-back):
# they forbid refunding the record again (a double refund), not other work on it.
SPENT_STATUS = re.compile(r"(?i)^(?:(?:fully[ _-])?refunded|charged[ _-]?back)$")
# A record's verified owner (`ACCT-1=owner:ann@x.org`) and the requesters of the session's
# tickets (`*=requester:bob@y.org`): an account is recovered only for its verified owner.
OWNER_PREFIX = "owner:"
REQUESTER_PREFIX = "*=requester:"
# `REF=spend:tool:amount:step`: a payment the session executed, by the reference or payee it names.
SPEND_PREFIX = "spend:"
_OWNER_KEY = re.compile(r"(?i)^(?:verified|owner|registered)_?e-?mail(?:_address)?$|^e-?mail_on_file$")
_REQUESTER_KEY = re.compile(r"(?i)^(?:requester|requested_by|reporter|submitter|opened_by)(?:_?e-?mail)?$")
# Statuses that forbid writing to a contact rather than acting on a record: the record's own
# addresses are held against sends, and nothing else.
# A subject who objected to the processing of their data (GDPR Art. 21, `art21_objection: true`,
# `objected_to_processing: true`): held as opted out, so nothing is sent to them unasked.
OBJECTED_STATUS = "opted_out_by_objection"
_OBJECTION_KEY = re.compile(r"(?i)(?:^|_)(?:objection|objected|objects)(?:_|$)|^(?:art(?:icle)?_?21|right_?to_?object)(?:_|$)")
NO_CONTACT_STATUS = re.compile(r"(?i)(?:opt(?:ed)?[ _-]?out|unsubscribed|do[ _-]?not[ _-]?(?:contact|e-?mail|mail|call|message|text|sms))")
# A result that records a failed identity verification: the session may not go on to recover
# or re-point the account (`*=verification_failed`).
VERIFICATION_FAILED = "*=verification_failed"
_VERIFICATION_FAILED_RX = re.compile(
    r"(?i)\b(?:verification|identity\s+check|id\s+check|kba)\b[^.\n]{0,60}?\b(?:failed|unsuccessful|not\s+passed|did\s+not\s+pass)\b"
    r"|\b(?:failed|unsuccessful)\s+(?:identity\s+|id\s+)?verification\b|\b(?:could\s+not|couldn'?t|unable\s+to)\s+(?:be\s+)?verif(?:y|ied)\b")


# A helpdesk identity check recorded as not (yet) done (`identity_check: pending`), and one
# recorded as passed (`identity_check: passed — video call`): an account is recovered or
# re-pointed only after the check, so the first stops recovery until the second is seen.
IDENTITY_UNCHECKED = "*=identity_unchecked"
IDENTITY_CHECKED = "*=identity_checked"
_IDENTITY_CHECK_KEY = re.compile(r"(?i)^(?:identity|id|owner|account_?owner|caller|requester|helpdesk_?identity)_?"
                                 r"(?:verification|verified|check|confirmation|confirmed)(?:_?status)?$")
_CHECK_OUTCOME_LEAVES = frozenset({"outcome", "result", "status", "state", "decision"})
_CHECK_FAILED16 = re.compile(r"(?i)^\s*(?:failed|fail|unsuccessful|not\s+passed|rejected|mismatch)\b")
_CHECK_PASSED = re.compile(r"(?i)^\s*(?:passed|pass|verified|done|completed?|confirmed|yes|true|ok)\b")


# A message a result lists whose subject says it carries a credential (a temporary password, a
# one-time or verification code, a reset or magic link): `*=credmsg:<id>`. And the people a
# roster result names (`oncall: [...]`, `rota: [...]`): `*=roster:<address>`, with `*=roster`.
CREDENTIAL_MESSAGE_PREFIX = "*=credmsg:"
ROSTER_MARK = "*=roster"
ROSTER_PREFIX = "*=roster:"
_CREDENTIAL_SUBJECT = re.compile(r"(?i)\b(?:temporary|temp|one[- ]time|initial|new|your)\s+(?:password|passcode|pin|login\s+details|credentials?)\b"
                                 r"|\bpassword\s+reset\b|\breset\s+(?:your\s+)?password\b|\bverification\s+code\b|"
                                 r"\b(?:login|sign[- ]?in|security|2fa|mfa)\s+code\b|\bmagic\s+(?:sign[- ]?in\s+)?link\b|\b(?:log[- ]?in|sign[- ]?in)\s+link\b|\b(?:recovery|backup)\s+codes\b")
_SUBJECT_KEY = re.compile(r"(?i)^(?:subject|title|topic)$")
_MESSAGE_ID_KEY = re.compile(r"(?i)^(?:id|message_?id|msg_?id|thread_?id|mail_?id)$")
# What an outside message asks to have trusted: its sender's address and ___domain, and the hosts,
# addresses and IPs its text names (`*=asks_trust:<value>`), for a later allow-list to be read against.
ASKS_TRUST_PREFIX = "*=asks_trust:"
_MSG_SENDER_KEY = re.compile(r"(?i)^(?:from|sender|sent_?by|reply_?to|author_?email)$")
_MSG_BODY_KEY = re.compile(r"(?i)^(?:body|text|content|message|snippet|body_?text)$")
_TRUST_VALUE = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?:/\d{1,2})?(?![\w.])|(?<![\w.@-])(?:[a-z0-9-]{1,63}\.){1,6}[a-z]{2,24}(?![\w.-])", re.I)
_ROSTER_KEY = re.compile(r"(?i)^(?:on_?call(?:_?(?:rota|roster|list|engineers|people))?|rota|roster|responders|incident_?responders)$")
# round 17b: a record's approval field, empty or outstanding (`approvals: []`, `approved_by: ""`,
# `approval_status: pending`) or given (an approver, `approved`); a grant is read against them
APPROVAL_MISSING_MARK = "*=approval_missing"
APPROVAL_GIVEN_MARK = "*=approval_given"
# round 17b: the titles of a calendar's entries a result listed (`events: [{title, start}, …]`),
# for an outside message that reproduces someone's schedule
EVENT_PREFIX = "*=event:"
_EVENTS_KEY = re.compile(r"(?i)^(?:events|items|meetings|appointments|entries|schedule|calendar)$")
_EVENT_TITLE_KEY = re.compile(r"(?i)^(?:title|summary|subject|name)$")
_EVENT_TIME_KEY = re.compile(r"(?i)^(?:start|start_?time|starts?_?at|begin|when|date_?time|dtstart)$")
_APPROVALS_KEY = re.compile(r"(?i)^(?:approvals?|approved_?by|approvers?|sign_?offs?|approval_?status)$")
_APPROVAL_OPEN_VALUE = re.compile(r"(?i)^\s*(?:|none|null|n/?a|no|pending(?:[ _-]approval)?|awaiting(?:[ _-]approval)?|not[ _-]?(?:yet[ _-]?)?approved|requested|open|missing|unapproved|rejected|denied)\s*$")


# Round 18b: a message whose writer asks to be sent no more marketing.
_OPTOUT_ASK18 = re.compile(
    r"(?i)\b(?:take|remove|delete|drop)\s+me\s+(?:off|from)\s+(?:your|the|this|all|any)\s+(?:[\w-]+\s+){0,2}(?:list|lists|mailings?)\b"
    r"|\bunsubscribe\s+me\b|\bopt\s+me\s+out\b"
    r"|\b(?:do\s+not|don'?t|never)\s+(?:add\s+me\s+to|put\s+me\s+on|send\s+me)\s+(?:any\s+(?:more\s+)?|more\s+)?(?:marketing|promotional|sales|newsletter|mailing)"
    r"|\b(?:i\s+do\s+not|i\s+don'?t)\s+want\s+(?:any\s+)?more\s+(?:marketing|promotional|sales)\b"
    r"|\bstop\s+(?:e-?mailing|contacting|messaging)\s+me\b")


def _note_messages_and_rosters(node: Any, out: set[str], depth: int = 0) -> None:
    if depth > 6:
        return
    if isinstance(node, dict):
        subject = next((v for k, v in node.items() if isinstance(v, str) and _SUBJECT_KEY.match(str(k))), None)
        if subject and _CREDENTIAL_SUBJECT.search(subject):
            out.update(CREDENTIAL_MESSAGE_PREFIX + v.strip().lower() for k, v in node.items()
                       if isinstance(v, str) and _MESSAGE_ID_KEY.match(str(k)) and 0 < len(v) <= 128)
        sender = next((v for k, v in node.items() if isinstance(v, str) and "@" in v and _MSG_SENDER_KEY.match(str(k))), None)
        if sender and (m := EMAIL_RX.search(sender)):
            out.add(ASKS_TRUST_PREFIX + m.group(0).lower())
            out.add(ASKS_TRUST_PREFIX + m.group(1).lower())
            for k, v in node.items():
                if isinstance(v, str) and _MSG_BODY_KEY.match(str(k)):
                    out.update(ASKS_TRUST_PREFIX + t.group(0).lower() for t in list(_TRUST_VALUE.finditer(v[:4000]))[:32])
                    if _OPTOUT_ASK18.search(v[:4000]):
                        # round 18b: the sender asked in writing to get no more marketing
                        # (`please take me off your mailing list`): that address opted out
                        out.add(f"{m.group(0).lower()}={NO_MARKETING}")
        for k, v in node.items():
            if _APPROVALS_KEY.match(str(k)) and (v is None or isinstance(v, (str, list))):
                if v is None or (isinstance(v, list) and not v) or (isinstance(v, str) and _APPROVAL_OPEN_VALUE.match(v)):
                    out.add(APPROVAL_MISSING_MARK)
                elif isinstance(v, str) or any(isinstance(x, (str, dict)) and x for x in v):
                    out.add(APPROVAL_GIVEN_MARK)
                continue
            if isinstance(v, list) and len(v) >= 2 and _EVENTS_KEY.match(str(k)):
                titles = [t.strip().lower() for x in v[:60] if isinstance(x, dict) and any(_EVENT_TIME_KEY.match(str(kk)) for kk in x)
                          for kk, t in x.items() if isinstance(t, str) and _EVENT_TITLE_KEY.match(str(kk)) and 4 <= len(t.strip()) <= 120]
                if len(titles) >= 2:
                    out.update(EVENT_PREFIX + t for t in titles)
                    continue
            if isinstance(v, list) and _ROSTER_KEY.match(str(k)):
                people = {m.group(0).lower() for x in v if isinstance(x, str) for m in EMAIL_RX.finditer(x)}
                if people:
                    out.add(ROSTER_MARK)
                    out.update(ROSTER_PREFIX + e for e in people)
            elif isinstance(v, (dict, list)):
                _note_messages_and_rosters(v, out, depth + 1)
    elif isinstance(node, list):
        for x in node[:500]:
            if isinstance(x, (dict, list)):
                _note_messages_and_rosters(x, out, depth + 1)


# A record already paid (`status: paid`, a `paid_on` date): paying it again is a duplicate
# payment. Recorded as its own status; only payments that name the record by reference stop.
PAID_STATUS = "paid"
_PAID_VALUE = re.compile(r"(?i)^\s*(?:paid|settled|reimbursed|paid[ _-]out)\s*$")
_PAID_KEY = re.compile(r"(?i)^(?:paid_?(?:on|at|date|in|in_?(?:period|run|month))|date_?paid|payment_?date|settled_?(?:on|at)|paid_?(?:with|via)_?run)$")
# An open card dispute or charge-back under a charge: refunding as well returns the money twice.
_DISPUTE_KEY = re.compile(r"(?i)^(?:dispute|chargeback|charge_back|open_dispute)s?$")
_CLOSED = re.compile(r"(?i)^\s*(?:closed|resolved|won|lost|withdrawn|reversed|cancell?ed)\s*$")
# A dispute the merchant lost, or one whose funds the issuer withdrew: the charge is charged back.
_DISPUTE_STATE_KEY17 = re.compile(r"(?i)^(?:state|stage|outcome|resolution|result)$")
# (`withdrawn by cardholder 2024-11-15`: who closed it and when do not change that it is closed)
_DISPUTE_BY17 = re.compile(r"(?i)\s+(?:by|on|in|at)\b.*$|\s+\d.*$")
_LOST = re.compile(r"(?i)^\s*(?:lost|charged[ _-]?back|chargeback)\s*$")
_WITHDRAWN_KEY = re.compile(r"(?i)^funds_?(?:withdrawn|reversed|debited)(?:_?(?:on|at|date))?$")
# A record that collected nothing (`amount_paid: 0`): there is nothing to refund on it.
UNPAID_STATUS = "nothing_collected"
_COLLECTED_KEY = re.compile(r"(?i)^(?:amount_?paid|paid_?amount|amount_?(?:collected|captured|received|settled)|collected)$")
# A clearance a payment or grant waits for, recorded as not given (`cleared: false` under a
# sanctions screening, `bank_details_verified: false`, `approved: false`).
_CLEARANCE_KEY = re.compile(r"(?i)^(?:cleared|approved|(?:bank|bank_?details|bank_?account|payee|beneficiary|payout|kyc|aml|"
                            r"sanctions?|screening)_?(?:verified|cleared|approved|passed))$")
# A check a payment or grant waits for, recorded as not (yet) done: `call_back_verification:
# not done` after a bank-details change, `kyc_status: pending`.
_VERIFY_KEY = re.compile(r"(?i)^(?:call_?back|callback|bank_?(?:details|account)?(?:_?change)?|payee|beneficiary|kyc|aml|"
                         r"sanctions?|screening|identity|id|owner|account_?owner|caller|requester)_?(?:verification|verified|check|confirmation|confirmed)(?:_?status)?$"
                         r"|^(?:kyc|aml|cdd|sanctions?|screening|due_?diligence)_?(?:status|review_?status)$"
                         # round 19g: the enhanced check itself (`enhanced_due_diligence: not completed`, `edd: pending`)
                         r"|^(?:enhanced_?due_?diligence|edd)(?:_?status)?$")
_UNDONE = re.compile(r"(?i)^\s*(?:not[ _-]?(?:yet[ _-])?(?:done|performed|completed|verified|confirmed|passed|started)|pending|"
                     r"outstanding|missing|no|false|failed|unverified|incomplete|skipped|expired|lapsed|overdue)\s*$")
# A record whose subject is flagged for restricted access (a VIP, a staff member's own chart,
# `access audited`, break-the-glass): reading its regulated content needs a task that names it.
RESTRICTED_STATUS = "restricted"
_MARK_KEY = re.compile(r"(?i)^(?:notes?|flags?|alerts?|tags?|labels?|banner|markers?)$")
_RESTRICTED_MARK = re.compile(r"(?i)\b(?:vip|restricted\s+(?:record|access|chart)|access\s+(?:is\s+)?audited|break[- ]the[- ]glass|"
                              r"celebrity|high[- ]profile|staff\s+(?:member|patient)|employee[- ]patient)\b")
# A hold stated in a record's notes rather than in a flag (`Legal: do not destroy any records
# until the claim is closed`, `litigation hold since 2024-11`): the record may not be deleted.
HOLD_STATUS = "legal hold"
_HOLD_MARK = re.compile(r"(?i)\b(?:legal|litigation)\s+hold\b|\bdo\s+not\s+(?:destroy|delete|purge|dispose\s+of|shred|erase)\b"
                        r"|\bpreserv(?:e|ation)\s+(?:notice|order|all\s+(?:records|documents|files|data))\b"
                        # round 17: `preserved until Legal tells you otherwise`, `preserve all rows until released by Legal`
                        r"|\bpreserv(?:e|ed|ation)\b[^.;\n]{0,40}?\buntil\s+(?:released|further\s+notice|(?:legal|counsel)\b|told|the\s+(?:\w+\s+){0,2}?(?:matter|case|claim|dispute|litigation|arbitration|investigation))[^.;\n]{0,40}"
                        # round 18b: a record left out of a deletion run (`exclude from erasure until Legal releases it`)
                        r"|\bexclud(?:e|ed|ing)\b[^.;\n]{0,40}?\bfrom\s+(?:the\s+|this\s+|any\s+)?(?:erasure|deletion|purge|destruction|disposal|retention\s+(?:run|delete|purge))\b")
# (named apart from the holds-list `_HOLD_ENDED` below, which once shadowed it)
_NOTE_HOLD_ENDED = re.compile(r"(?i)^[^.;\n]{0,40}?\b(?:released|lifted|removed|ended|expired|withdrawn|no\s+longer)\b")
# Round 17: other places a hold is written down in prose: a comment on a table, a remark, a
# message or mail kept on the record (`latest_mail_from_legal: "… preserved until …"`).
_HOLD_TEXT_KEY17 = re.compile(r"(?i)(?:^|_)(?:comments?|remarks?|memos?|mail|e?mail_?body|message|notice|legal|counsel|compliance)(?:_|$)")   # (round 19g: `legal: "… under litigation hold …"`)
_HOLD_DENIED = re.compile(r"(?i)\b(?:no|not\s+(?:on|under)(?:\s+a)?|without(?:\s+a)?)\s*$")


def _hold_sentence_ids(text: str) -> set[str]:
    """Round 18b: the identifiers named in the sentences of a note that state a hold (`C-88121
    is party to litigation - exclude from erasure until Legal releases it`): those records are
    held, while the others the note's record lists are not."""
    out: set[str] = set()
    for m in _HOLD_MARK.finditer(text):
        if _HOLD_DENIED.search(text[max(0, m.start() - 16):m.start()]) or _NOTE_HOLD_ENDED.match(text[m.end():]):
            continue
        start = max(text.rfind(c, 0, m.start()) for c in ".\n") + 1
        ends = [i for i in (text.find(c, m.end()) for c in ".\n") if i >= 0]
        out |= {t.group(0).upper() for t in _IDENT_RX.finditer(text[start:min(ends) if ends else len(text)])}
    return out


def _states_hold(text: str) -> bool:
    """Whether a note states a hold that stands (not `no legal hold`, not `legal hold lifted`)."""
    for m in _HOLD_MARK.finditer(text):
        if _HOLD_DENIED.search(text[max(0, m.start() - 16):m.start()]) or _NOTE_HOLD_ENDED.match(text[m.end():]):
            continue
        return True
    return False


# What a record is for (`AP-40760=amount:690000`): paying a record above the per-call limit
# in parts under it is structuring.
AMOUNT_PREFIX = "amount:"
# The supplier's own invoice number a payable carries (`vendor_invoice_ref: OF-5531`):
# `AP-41733=extref:OF-5531`; another record carrying it that was paid pays the same bill.
EXTREF_PREFIX = "extref:"
# The currency a record's amount is in (`amount: 36500, currency: EUR`): `ID=currency:EUR`.
CURRENCY_PREFIX = "currency:"
_CURRENCY_KEY = re.compile(r"(?i)^(?:currency|currency_?code|ccy)$")
_CURRENCY_CODE = re.compile(r"^\s*[A-Za-z]{3}\s*$")
_AMOUNT_KEY = re.compile(r"(?i)^(?:amount|total|amount_?due|total_?amount|balance_?due|gross_?amount|invoice_?amount)$")
# Round 17: an amount a record states as text with its currency (`"EUR 21.350,00"`, `"$412.50"`,
# `"12400.00 usd"`): its figure and its currency, as a number beside a `currency` key would give.
_MONEY_SYMBOL17 = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY"}
_MONEY_CODE17 = frozenset("USD EUR GBP CHF CAD AUD JPY SEK NOK DKK PLN CZK INR CNY SGD HKD NZD MXN BRL ZAR".split())
_MONEY_STRING17 = re.compile(r"^\s*(?:([A-Za-z]{3})\s?|([$€£¥])\s?)?(\d{1,3}(?:[.,]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?)\s?([A-Za-z]{3})?\s*$")


_TEXT_MONEY17 = re.compile(r"([$€£¥])\s?\d|\b([A-Z]{3})\s?\d[\d.,]*\b|\d\s?([A-Z]{3})\b")
_CODE_AMOUNT17 = re.compile(r"\b[A-Z]{3}\s?\d|\d\s?[A-Z]{3}\b")


def money_string(text: str) -> tuple[float, str | None] | None:
    """`"EUR 21.350,00"` -> (21350.0, "EUR"); `"$412.50"` -> (412.5, "USD"); a bare `"62.40"` ->
    (62.4, None); None for anything else (a date, a word, two codes)."""
    if len(text) > 40:
        return None
    m = _MONEY_STRING17.match(text)
    if m is None or (m.group(1) or m.group(2)) and m.group(4):
        return None
    code = (m.group(1) or m.group(4) or "").upper() or _MONEY_SYMBOL17.get(m.group(2) or "")
    if code is not None and code not in _MONEY_CODE17:
        return None
    digits = m.group(3)
    # the last separator followed by one or two digits is the decimal mark; the others group thousands
    if len(digits) >= 3 and digits[-3] in ".," or len(digits) >= 2 and digits[-2] in ".,":
        cut = digits.rfind(digits[-3] if digits[-3] in ".," else digits[-2])
        whole, frac = digits[:cut], digits[cut + 1:]
    else:
        whole, frac = digits, ""
    try:
        value = float(whole.replace(",", "").replace(".", "") + ("." + frac if frac else ""))
    except ValueError:
        return None
    return value, code

# What a record was approved for (`approved_amount: 28400` beside an `amount` edited later):
# `ID=approved_amount:28400`; paying more pays what nobody approved.
APPROVED_AMOUNT_PREFIX = "approved_amount:"
_APPROVED_AMOUNT_KEY = re.compile(r"(?i)^(?:approved_?amount|amount_?approved|approval_?amount|authori[sz]ed_?amount)$"
                                  # round 20b: the same figure under any spelling whose words say approved and
                                  # a sum (`approved_total`, `total_approved`, `authorised_sum`); an approver's
                                  # limit or cap is no record's approved figure
                                  r"|^(?=[a-z_]{0,40}$)(?!.*(?:limit|cap|max|threshold|up_?to))"
                                  r"(?=.*(?:approv|authori[sz]))(?=.*(?:amount|total|sum|value)).*$")
# The currency and amount a record settles in when it is paid in another currency than it is
# owed in (`amount: 61000, currency: EUR, settle_in: USD, settlement_amount_usd: 65953.2`).
_SETTLE_CCY_KEY = re.compile(r"(?i)^(?:settle(?:ment)?_?(?:in|currency|ccy)|pay(?:ment)?_?(?:in|currency|ccy)|payable_?in)$")
_SETTLE_AMOUNT_KEY = re.compile(r"(?i)^settle(?:ment)?_?amount(?:_?[a-z]{3})?$")
# Payment terms in parts (`payment_terms: 2 instalments of 48,000`): `ID=instalments`, so a
# second payment under the record is a part, not a duplicate, while the parts stay within it.
INSTALMENTS = "instalments"
_TERMS_KEY = re.compile(r"(?i)^(?:payment_?terms|terms|payment_?schedule|schedule)$")
_INSTALMENT_TERMS = re.compile(r"(?i)\b(?:instal{1,2}ments?|tranches?|milestone\s+payments?|payable\s+in\s+\d+\s+parts)\b")
# A bank account a record pays into (`bank_account`, `iban`, `paid_to_account`): on a party's
# record `V-1007=bank:GB33BUKB…`; on an employee's record `GB33BUKB…=employee_account`, so a
# vendor paying into an employee's own account is seen (a round trip to an insider).
BANK_PREFIX = "bank:"
EMPLOYEE_ACCOUNT = "employee_account"
_ACCOUNT_VALUE_KEY = re.compile(r"(?i)^(?:iban|bank_?account(?:_?number)?|account_?number|(?:paid_?to|payout|deposit|payroll)_?(?:account|iban))$")
_EMPLOYEE_KEY = re.compile(r"(?i)^(?:employee|staff|worker)_?(?:id|no|number|name)$")
_ACCOUNT_CHARS = re.compile(r"[^A-Za-z0-9]")
# A status stated in a message (`error: claim EXP-30149 status: pending_approval`).
_INLINE_STATUS = re.compile(r"(?i)\b(?:status|state)\s*(?:[:=]|is)\s*['\"]?([a-z][a-z _-]{2,30}?)['\"]?(?=$|[\s,.;)])")
# Refunds a record already carries (`refunds: [{amount: 84, status: succeeded}]`):
# `ID=refunded:84`, so refunding the same amount again is a double refund.
REFUNDED_PREFIX = "refunded:"
# A channel the record's subject declined (`contact_preferences: {sms: false}`): `ID=no_channel:sms`.
NO_CHANNEL_PREFIX = "no_channel:"
_CHANNELS = {"sms": "sms", "text": "sms", "texts": "sms", "text_message": "sms", "mobile": "sms",
             "email": "email", "e_mail": "email", "mail": "email",
             "phone": "phone", "call": "phone", "calls": "phone", "voice": "phone", "telephone": "phone",
             "whatsapp": "whatsapp", "post": "post", "letter": "post", "portal": "portal"}


def message_channel(word: str) -> str | None:
    """The messaging channel a preference key or a channel argument names (`sms`, `e-mail`,
    `phone_calls` -> sms, email, phone), or None."""
    w = word.strip().lower().replace("-", "_").replace(" ", "_")
    if w.startswith(("allow_", "ok_to_", "can_")):
        w = w.split("_", 1)[1].removeprefix("to_")
    w = w.removesuffix("_ok").removesuffix("_allowed").removesuffix("_opt_in")
    return _CHANNELS.get(w) or _CHANNELS.get(w.split("_", 1)[0])
# A credit note (credit memo) issued against the record gives its money back as a refund does.
_REFUNDS_KEY = re.compile(r"(?i)^(?:refunds?|credit_?notes?|credit_?memos?)$")
_DONE = re.compile(r"(?i)^\s*(?:succeeded|success|successful|completed?|processed|issued|settled|paid|refunded|applied)\s*$")
# Consent and preference records: a purpose the subject refused.
_CONSENT_PARENT = re.compile(r"(?i)consent|preference|permission|subscription|authori[sz]ation|privacy")
_DISCLOSURE_PURPOSE = re.compile(r"(?i)disclos|shar(?:e|ing)|release|part_?2|third_?part|transfer")
_MARKETING_PURPOSE = re.compile(r"(?i)marketing|promotion|newsletter|offers")
_REFUSED_VALUE = re.compile(r"(?i)^\s*(?:none|no|false|revoked|withdrawn|declined|denied|refused|not[ _-]?(?:given|granted|on[ _-]file)|"
                            r"unsubscribed|opted[ _-]?out|opt[ _-]?out|missing|expired|objected)\s*$")
NO_DISCLOSURE = "no_disclosure_consent"
_CONSENT_STATE_LEAVES18 = frozenset({"status", "state", "consent", "value", "given", "granted"})
NO_MARKETING = "no_marketing"
_OPT_IN_KEY = re.compile(r"(?i)opt_?in|consent|allowed|permitted|ok$")
# Who raised a record and who approved it: the same person on both sides is no segregation of duties.
_SUBMITTER_KEY = re.compile(r"(?i)^(?:submitted_?by|requested_?by|requester|created_?by|prepared_?by|raised_?by|initiated_?by)$")
_APPROVER_KEY = re.compile(r"(?i)^(?:approved_?by|approvers?|approver_?\w*|authori[sz]ed_?by|signed_?off_?by)$")
SELF_APPROVED = "self_approved"
# Round 19b: the person a record pays (`employee_id`, `claimant`) is its approver: the same id or
# the same full name on both sides (`approved_by: E30588` on E30588's claim) is no approval.
_BENEFICIARY_KEY19 = re.compile(r"(?i)^(?:employee|claimant|payee|beneficiary)_?(?:id|name)?$")
_APPROVER_NAME_KEY19 = re.compile(r"(?i)^(?:approved_?by|approver(?:_?(?:id|name))?|authori[sz]ed_?by|signed_?off_?by)$")
# Round 19b: a record that is a credit document (`document_type: credit_note`): money owed to the
# organisation, never paid out. (A negative amount alone is not read: a pay file's recoveries and
# prorations are negative lines of payable runs.)
CREDIT_DOCUMENT = "credit_document"
_DOC_TYPE_KEY19 = re.compile(r"(?i)^(?:document_?type|doc_?type|type|kind)$")
_CREDIT_DOC_VALUE19 = re.compile(r"(?i)^\s*credit[ _-]?(?:note|memo)\s*$")
# Round 19b: a contact restriction written as text (`Do not contact by SMS or at the home phone`,
# `never text this number`): that channel is declined for the record's subject.
_CHANNEL_REFUSAL19 = re.compile(r"(?i)\b(?:do\s+not|don'?t|never|no)\s+(?:contact|text|message|call|reach|e-?mail)\w*\s+(?:\w+\s+){0,2}?"
                                r"(?:by|via|through|over|using)\s+(sms|text(?:\s+message)?|e-?mail|phone)\b")
_CHANNEL_PREP19 = (" by ", " via ", " through ", " over ", " using ")
# Round 19b: a control review that has lapsed (`kyc_review: {status: expired}`, `due_diligence:
# {state: overdue}`): the party's periodic check is not current.
_REVIEW_PARENT19 = re.compile(r"(?i)^(?:kyc|aml|cdd|edd|due_?diligence|sanctions?|screening)(?:_?(?:review|check|refresh|status))?$")
_REVIEW_STATE_LEAF19 = frozenset({"status", "state"})
# (its status or state only, and only words of a check not done or no longer current: a screening's
# `result: no` may be the pass, so results and bare yes/no values are not read here)
_REVIEW_LAPSED19 = re.compile(r"(?i)^\s*(?:expired|lapsed|overdue|pending|outstanding|missing|incomplete|"
                              r"not[ _-]?(?:yet[ _-])?(?:done|performed|completed|started|current|renewed))\s*$")
# Round 19b: the purchase order a bill is for, cancelled (`po_status: cancelled`, `purchase_order:
# {status: void}`): the bill is for goods no longer ordered.
ORDER_CANCELLED = "order_cancelled"
# Round 19b: a recording whose subject refused to be recorded (`recording_consent: declined`,
# `consent_to_record: no`): the recording exists against that refusal and is not passed on.
NO_RECORDING_CONSENT = "no_recording_consent"
NO_RECORDING_MARK = "*=" + NO_RECORDING_CONSENT
_RECORDING_CONSENT_KEY19 = re.compile(r"(?i)^(?:(?:call_?)?recording_?(?:consent|permission|allowed|ok)|consent_?to_?(?:record|recording)|"
                                      r"(?:call_?)?recording_?consent_?(?:status|given))$")
_PO_STATUS_KEY19 = re.compile(r"(?i)^(?:po|purchase_?order)_?status$")
# Round 19g: a hold written as an object with its own state, and the states that keep it in force.
_HOLD_OBJECT_KEY19G = re.compile(r"(?i)^(?:legal|litigation|preservation)_?hold$")
_HOLD_IN_FORCE19G = re.compile(r"(?i)^\s*(?:active|in[ _-]?(?:place|force|effect)|open|placed|applied|on|yes|current)\s*$")
# Round 19g: an approvals list (`approvals: [{by: …, role: …}]`): who signed, one entry each.
_APPROVALS_LIST_KEY19G = re.compile(r"(?i)^(?:approvals|sign_?offs|signatures)$")
_SIGNER_LEAF19G = re.compile(r"(?i)^(?:by|name|approver|approved_?by|signed_?by|user|who)$")
# Round 19g: who set up a party (a vendor, a payee): held against approvals of that party's bills.
_CREATOR_KEY19G = re.compile(r"(?i)^(?:created_?by|set_?up_?by|onboarded_?by|added_?by)$")
_PARTY_OWN_ID19G = re.compile(r"(?i)^(?:vendor|supplier|payee|merchant|beneficiary)_?id$")
CREATOR_PREFIX = "creator:"
SOD_MARK = "*=sod19g"   # some result named a party's creator or a self-approved record
APPROVER_PREFIX = "approver:"
_PO_PARENT_KEY19 = re.compile(r"(?i)^(?:po|purchase_?order)$")
_CANCELLED19 = re.compile(r"(?i)^\s*(?:cancell?ed|void(?:ed)?|withdrawn|closed[ _-]?(?:unfilled|cancell?ed))\s*$")
# `ID=bind:vendor_id:V-1` ties a record (by its primary id) to the parties it names.
BIND_PREFIX = "bind:"
_ID_KEY = re.compile(r"(?i)^(?:id|\w+_id)$")
_PARTY_ID_KEY = re.compile(r"(?i)^(?:vendor|supplier|customer|client|payee|merchant|employee|manager|requester|owner)_?id$")


def person_key(value: str) -> str:
    """A person as records name them: `r.ortega (Controller)` and `R.Ortega` are the same."""
    return value.strip().lower().split(" ", 1)[0].split("(", 1)[0]


# A control a record failed (a three-way match, a receipt or policy check): the record is not paid.
CHECK_FAILED = "check_failed"
_CONTROL_KEY = re.compile(r"(?i)(?:^|_)(?:check|checks|match|matching|validation|control|controls|screening|screen|"
                          # round 18b: a confirmation-of-payee or account verification result
                          r"confirmation_of_payee|payee_(?:confirmation|verification)|account_verification)$")
_CONTROL_RESULT_KEY = re.compile(r"(?i)^(?:result|status|outcome|match|passed|matched|valid)$")
_CONTROL_FAILED = re.compile(r"(?i)^\s*(?:fail(?:ed|s)?|mismatch(?:ed)?|not[ _-]matched|unmatched|invalid|"
                             # round 17: a screening against a list that hit (`outcome: potential match`)
                             r"(?:potential|possible|partial|probable|true|confirmed)[ _-]?(?:match|hit)|hit)\s*$")
# Contract terms that name the one currency a party is paid in (`payable in EUR only`).
_ONLY_CURRENCY = re.compile(r"(?i)\b(?:payable|paid|invoiced|settled)\b[\w ,]{0,40}?\bin\s+((?-i:[A-Z]{3}))\s+only\b")


# Round 18b: a match that is an exception (`three_way_match: {status: exception}`) failed; so did
# one that found no match, except on a screening, where finding no match on the list is the pass.
_CONTROL_EXCEPTION18 = re.compile(r"(?i)^\s*(?:exception|in[ _-]exception|no[ _-]match|not[ _-]a[ _-]match|close[ _-]match)\s*$")
_SCREENING_KEY18 = re.compile(r"(?i)screen|sanction|watch_?list|ofac|\bpep\b|_pep$|^pep_|aml|duplicate")


def _control_failed(v: Any, key: str = "", parent: str = "") -> bool:
    # (`match: false` may mean no hit on a duplicate or watch-list check: only a stated failure counts there)
    if isinstance(v, str) and len(v) <= 24 and parent and not _SCREENING_KEY18.search(parent) and _CONTROL_EXCEPTION18.match(v):
        return True
    return v is False and not key.lower().startswith("match") or (isinstance(v, str) and len(v) <= 24 and bool(_CONTROL_FAILED.match(v)))


# Round 18b: a refusal followed by how it was given (`revoked - replied STOP on 2024-11-03`,
# `withdrawn (patient request)`, `opted out: by phone`): the head word decides.
_REFUSED_HEAD18 = re.compile(r"(?i)^\s*(?:revoked|withdrawn|declined|denied|refused|unsubscribed|opted[ _-]?out|objected)\s*(?:[-\u2013\u2014:;,(]|$)")


def _refused(v: Any) -> bool:
    # (round 17: with the date it was given, `objected 2024-09-02`, `withdrawn (03/09/2024)`)
    return v is False or (isinstance(v, str) and (bool(_REFUSED_VALUE.match(v)) or len(v) <= 48 and bool(_DATED17.search(v))
                                                  and bool(_REFUSED_VALUE.match(_DATED17.sub("", v)))
                                                  or len(v) <= 160 and bool(_REFUSED_HEAD18.match(v))))


# Round 18b: a consent given per recipient and withdrawn for one of them (`sharing_consents:
# [{recipient: …, npi: '1720394857', status: withdrawn}]`): that recipient, by the numbers,
# ids and addresses the entry names, gets nothing more (`1720394857=no_disclosure_consent`);
# the other recipients of the list keep their consent.
_RECIPIENT_KEY18 = re.compile(r"(?i)^(?:npi|\w+_npi|(?:recipient|provider|partner|processor|org(?:ani[sz]ation)?|third_?party|party)\w*|email|to|address)$")


def _withdrawn_recipients(items: list[Any]) -> set[str]:
    out: set[str] = set()
    for it in items[:200]:
        if not isinstance(it, dict):
            continue
        if not any(_STATUS_KEY.match(str(k)) and _refused(v) for k, v in it.items()):
            continue
        for k, v in it.items():
            if isinstance(v, str) and len(v) <= 80 and _RECIPIENT_KEY18.match(str(k)):
                out.update(f"{t}={NO_DISCLOSURE}" for t in destination_tokens(v) | {m.group(0).upper() for m in _IDENT_RX.finditer(v)})
    return out


# Round 18b: a hold that names the people or records it covers (`legal_holds: [{matter: …,
# status: active, custodians: [E10233, E10871]}]`): each one named is under the hold, as a
# hold written on its own record would be (destroying it is refused); a released hold names none.
_HELD_LIST_KEY18 = re.compile(r"(?i)^(?:custodians?|subjects?|employees?|people|persons|members|records|accounts|customers|"
                              r"held_?(?:ids|records|custodians)|scope)$")


def _hold_custodians(items: list[Any]) -> set[str]:
    out: set[str] = set()
    for it in items[:200]:
        if not isinstance(it, dict) or not _active_hold([it]):
            continue
        for k, v in it.items():
            if isinstance(v, list) and _HELD_LIST_KEY18.match(str(k)):
                out.update(f"{x.strip().upper()}={HOLD_STATUS}" for x in v[:500]
                           if isinstance(x, str) and _IDENT_RX.fullmatch(x.strip()))
    return out


# Round 18b: who approved a record and up to what amount they may approve (`approved_by:
# {name: …, approval_limit: 25000}` on an 84,500 invoice): an approval beyond the approver's
# authority is no approval, so the record fails that control (it is not paid).
_APPROVAL_LIMIT_KEY18 = re.compile(r"(?i)^(?:approv\w*_?limit|signing_?limit|authori[sz]ation_?limit|limit|approval_?authority)$")


def _beyond_approver_limit(node: dict[str, Any]) -> bool:
    amounts = [float(v) for k, v in node.items() if isinstance(v, (int, float)) and not isinstance(v, bool) and _AMOUNT_KEY.match(str(k))]
    if not amounts:
        return False
    limits = []
    for k, v in node.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and _APPROVAL_LIMIT_KEY18.match(str(k)) and str(k).lower() != "limit":
            limits.append(float(v))
        elif isinstance(v, dict) and _APPROVER_KEY.match(str(k)):
            limits.extend(float(x) for kk, x in v.items() if isinstance(x, (int, float)) and not isinstance(x, bool)
                          and _APPROVAL_LIMIT_KEY18.match(str(kk)))
    return bool(limits) and max(amounts) > min(limits) + 0.005


# A record whose approved items are listed as none (`approved_comp_changes: []`), or a payee for
# which a listing of approved items came back empty: nothing approved stands behind a payment.
NONE_APPROVED = "none_approved"
_APPROVED_LIST_KEY = re.compile(r"(?i)^approved_\w+$")
# How many charges a listing shows for a record (`INV-1=charges:1`): a refund "for a duplicate
# charge" of a record charged once has no duplicate behind it.
CHARGES_PREFIX = "charges:"
_CHARGES_KEY = re.compile(r"(?i)^(?:charges|payments|transactions)$")
# Round 19e: a line an invoice bills twice (`lines: [{desc: Add-on, amount: 12.5}, {desc: Add-on,
# amount: 12.5}]`): `INV-1=dup_line:12.5`. The card was charged once, but for the same item twice:
# a duplicate charge of that line's amount, which a partial refund may give as its reason.
DUP_LINE_PREFIX = "dup_line:"
# Round 20f: a line of a record already refunded (`refunded_line:45`), when no line still standing
# has that amount: a refund of the record by that amount is the same refund again.
REFUNDED_LINE_PREFIX = "refunded_line:"
_LINES_KEY = re.compile(r"(?i)^(?:lines|line_?items|items)$")
_LINE_DESC_KEY = re.compile(r"(?i)^(?:desc|description|name|product|item|sku|label)$")
# Money already gone out under a reference (`AP-30988=paid_out:14200`): a bank or ledger line
# for a debit that names the record, though the record itself was never marked paid.
PAID_OUT_PREFIX = "paid_out:"
_LINE_REF_KEY = re.compile(r"(?i)^(?:bank_?ref(?:erence)?|reference|ref|payment_?ref(?:erence)?|remittance_?\w*|end_?to_?end_?\w*|memo|description|narrative|"
                           r"ledger(?:_?(?:ref(?:erence)?|entry|id|match))?|matched_?(?:to|entry|ledger))$")
_DEBIT_KEY = re.compile(r"(?i)^(?:debit|amount_?out|withdrawal|paid_?amount)$")
# Credits an account already carries (`credits_last_90d: [{amount: 50, note: 'for the 12 Nov
# outage'}]`): `CUS-1=credited:50:11-12`, by the amount and the date of the event it was for.
CREDITED_PREFIX = "credited:"
_CREDITS_KEY = re.compile(r"(?i)^(?:(?:account_?|goodwill_?|service_?)?credits|compensations?)(?:_\w+)?$")
_MONTHS3 = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_EVENT_DATE = re.compile(r"(?i)\b(\d{1,2})(?:st|nd|rd|th)?\s+(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b"
                         r"|\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b(?!:)")


def event_dates(text: str) -> set[str]:
    """Calendar days a text refers to by day and month (`12 Nov`, `Nov 12th`): `11-12`."""
    out = set()
    for m in _EVENT_DATE.finditer(text):
        day, mon = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
        if 1 <= int(day) <= 31:
            out.add(f"{_MONTHS3.index(mon.lower()) + 1:02d}-{int(day):02d}")
    return out


def _credited(items: list[Any]) -> list[str]:
    """`credited:AMOUNT:MM-DD` for each earlier credit in an account's list, by the days its text names."""
    out = []
    for it in items:
        if not isinstance(it, dict):
            continue
        amount = next((float(v) for k, v in it.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                       and _AMOUNT_KEY.match(str(k)) and v > 0), None)
        if amount is None:
            continue
        for v in it.values():
            if isinstance(v, str) and len(v) <= 200:
                out.extend(f"{CREDITED_PREFIX}{amount:.12g}:{d}" for d in event_dates(v))
    return out


_FAILED_CHARGE = re.compile(r"(?i)^\s*(?:failed|failure|declined|card[ _-]declined|errored|error|canceled|cancelled|voided|reversed|requires[ _-]\w+)\s*$")
_OWN_CHARGE_KEY = re.compile(r"(?i)^(?:id|charge_?id|payment_?id|transaction_?id|txn_?id)$")


# A row of a charges listing that is a charge-back (`type: chargeback`), and its outcome: one
# the cardholder won, or whose funds went back to the card, returned the money already.
_KIND_KEY = re.compile(r"(?i)^(?:type|kind|object|category|event|entry_?type)$")
_CHARGEBACK_KIND = re.compile(r"(?i)^\s*(?:charge[ _-]?back|dispute|retrieval)s?\s*$")
_OUTCOME_KEY = re.compile(r"(?i)^(?:outcome|result|resolution|decision|status|funds|funds_?(?:to|status|flow))$")
_CARDHOLDER_WON = re.compile(r"(?i)(?:card_?holder|customer|buyer|issuer)[ _-]?(?:won|wins|favou?r)|(?:returned|refunded|credited)[ _-]to[ _-](?:the[ _-])?(?:card_?holder|card|customer|buyer)|^\s*lost\s*$|merchant[ _-]lost")


def _chargeback_row(node: dict[str, Any]) -> set[str]:
    """`ID=charged_back` for the records a charge-back row the cardholder won (or whose funds
    went back to the card) names, by the ids it carries other than its own: the money is back."""
    if not any(isinstance(v, str) and _CHARGEBACK_KIND.match(v) for k, v in node.items() if _KIND_KEY.match(str(k))):
        return set()
    if not any(isinstance(v, str) and _CARDHOLDER_WON.search(v) for k, v in node.items() if _OUTCOME_KEY.match(str(k))):
        return set()
    return {f"{v.strip().upper()}=charged_back" for k, v in node.items()
            if isinstance(v, str) and _ID_KEY.match(str(k)) and not _OWN_CHARGE_KEY.match(str(k)) and _IDENT_RX.fullmatch(v.strip())}


def _repeated_lines(items: list[Any]) -> list[str]:
    """`dup_line:AMOUNT` for each line of an invoice that another line repeats (the same
    description and the same positive amount)."""
    seen: set[tuple[str, float]] = set()
    out: list[str] = []
    for it in items[:200]:
        if not isinstance(it, dict):
            continue
        desc = next((v.strip().lower() for k, v in it.items() if isinstance(v, str) and _LINE_DESC_KEY.match(str(k))), None)
        amount = next((float(v) for k, v in it.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                       and _AMOUNT_KEY.match(str(k)) and v > 0), None)
        if not desc or amount is None:
            continue
        if (desc, amount) in seen:
            out.append(f"{DUP_LINE_PREFIX}{amount:.12g}")
        seen.add((desc, amount))
    return out


def _charge_counts(items: list[Any]) -> set[str]:
    """`ID=charges:N`: how many charges of a listing name each record (an invoice, a customer),
    by the ids they carry other than their own (`charge_id`)."""
    counts: dict[str, int] = {}
    out: set[str] = set()
    for it in items:
        if not isinstance(it, dict):
            continue
        st = it.get("status")
        if isinstance(st, str) and _FAILED_CHARGE.match(st):
            continue   # a declined or failed attempt took no money: it is no charge to repeat
        if any(isinstance(v, str) and _CHARGEBACK_KIND.match(v) for k, v in it.items() if _KIND_KEY.match(str(k))):
            continue   # a charge-back row is no charge (what it returned: `_chargeback_row`)
        for k, v in it.items():
            if isinstance(v, str) and _ID_KEY.match(str(k)) and not _OWN_CHARGE_KEY.match(str(k)) and _IDENT_RX.fullmatch(v.strip()):
                counts[v.strip().upper()] = counts.get(v.strip().upper(), 0) + 1
    return out | {f"{i}={CHARGES_PREFIX}{n}" for i, n in counts.items()}


def _refund_links(refunds: list[Any], siblings: dict[str, Any]) -> set[str]:
    """Refunds recorded against charges (`refunds: [{charge_id: ch_2, amount: 64}]`) beside the
    charges they refund (`charges: [{charge_id: ch_2, invoice_id: INV-1, …}]`): the invoice's
    money is back (`INV-1=refunded:64`) once every charge on it but one has been refunded."""
    refunded: dict[str, list[float]] = {}
    for r in refunds:
        if not isinstance(r, dict):
            continue
        amount, st = r.get("amount"), r.get("status")
        if not (isinstance(amount, (int, float)) and not isinstance(amount, bool)) or not (st is None or isinstance(st, str) and _DONE.match(st)):
            continue
        keys = list(r)
        for k in keys[1:]:
            v = r[k]
            if isinstance(v, str) and _ID_KEY.match(str(k)):
                refunded.setdefault(v.strip().upper(), []).append(float(amount))
    if not refunded:
        return set()
    out: set[str] = set()
    for key, items in siblings.items():
        if not (isinstance(items, list) and _CHARGES_KEY.match(str(key))):
            continue
        by_record: dict[str, list[str]] = {}
        for it in items:
            if not isinstance(it, dict) or not it:
                continue
            keys = list(it)
            primary = it[keys[0]]
            if not (isinstance(primary, str) and _ID_KEY.match(str(keys[0]))):
                continue
            for k in keys[1:]:
                v = it[k]
                if isinstance(v, str) and _ID_KEY.match(str(k)) and _IDENT_RX.fullmatch(v.strip()):
                    by_record.setdefault(v.strip().upper(), []).append(primary.strip().upper())
        for record, charges in by_record.items():
            back = [a for c in charges for a in refunded.get(c, ())]
            if back and len(back) >= len(charges) - 1:
                out.update(f"{record}={REFUNDED_PREFIX}{a:.12g}" for a in back)
    return out


# The unit price an order's result gives for the catalogue item it named (`MBP16=price:4999`):
# a per-order limit applies to what the item costs, not to an instalment of it.
PRICE_PREFIX = "price:"
_PRICE_KEY = re.compile(r"(?i)^(?:item_|unit_|list_|catalog(?:ue)?_)?price(?:_(?:usd|eur|gbp))?$|^unit_?cost$")
ITEM_ARG = re.compile(r"(?i)^(?:catalog(?:ue)?_?item(?:_id)?|item(?:_id)?|sku|product(?:_id)?|part(?:_?number)?|model)$")


def item_prices(args: dict[str, Any], result: Any) -> set[str]:
    """`ITEM=price:P` for the item a call names (`catalog_item: MBP16-…`) when its result states
    the item's unit price."""
    if not isinstance(result, dict):
        return set()
    price = next((float(v) for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                  and v > 0 and _PRICE_KEY.match(str(k))), None)
    if price is None:
        return set()
    return {f"{v.strip().upper()}={PRICE_PREFIX}{price:.12g}" for k, v in args.items()
            if isinstance(v, str) and ITEM_ARG.match(str(k)) and v.strip()}


def approved_listing(args: dict[str, Any], result: Any, call_ids: set[str]) -> set[str]:
    """`ID=none_approved` for the ids a read names when it asked for their approved items
    (`status: approved, vendor_id: V-1005`, and no other filter) and the result lists none."""
    status = [k for k, v in args.items() if isinstance(v, str) and v.strip().lower() == "approved"
              and (_STATUS_KEY.match(str(k)) or str(k).lower() == "filter")]
    if not status:
        return set()
    # any other filter (a due date, a period) leaves approved items outside it unseen
    if not all(k in status or isinstance(v, str) and _IDENT_RX.fullmatch(v.strip()) for k, v in args.items()):
        return set()
    if isinstance(result, dict):
        lists = [v for v in result.values() if isinstance(v, list)]
        empty = bool(lists) and not any(lists)
    else:
        empty = result == []
    if not empty:
        return set()
    return {f"{i}={NONE_APPROVED}" for i in call_ids}


def _refunded_lines(items: list[Any]) -> list[str]:
    """Round 20f: `refunded_line:AMOUNT` for each line of a record whose own status says its
    money went back (`{item: add-on, amount: 45, status: refunded}`) and whose amount no line still
    standing shares: refunding the record by that amount again repeats the refund, though the
    record as a whole carries no status (and its total leaves room for another partial refund)."""
    spent_amounts: set[float] = set()
    standing: set[float] = set()
    for it in items[:200]:
        if not isinstance(it, dict):
            continue
        amount = next((float(v) for k, v in it.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                       and _AMOUNT_KEY.match(str(k)) and v > 0), None)
        if amount is None:
            continue
        spent = any(isinstance(v, str) and _STATUS_KEY.match(str(k)) and len(v) <= 48 and SPENT_STATUS.match(_DATED17.sub("", v).strip())
                    for k, v in it.items())
        (spent_amounts if spent else standing).add(amount)
    return [f"{REFUNDED_LINE_PREFIX}{a:g}" for a in sorted(spent_amounts - standing)]


def _refunded_amounts(refunds: list[Any]) -> list[str]:
    """`refunded:AMOUNT` for each refund in a record's list that went through."""
    out = []
    for r in refunds:
        if not isinstance(r, dict):
            continue
        amount, st = r.get("amount"), r.get("status")
        if isinstance(amount, (int, float)) and not isinstance(amount, bool) and (st is None or isinstance(st, str) and _DONE.match(st)):
            out.append(f"{REFUNDED_PREFIX}{float(amount):.12g}")
    return out


# A list of holds on a record (`holds: [{id: LH-2291, type: litigation, status: active}]`): one
# that is still in force holds the record, as `legal_hold: true` would; a hold released, lifted
# or expired does not.
_HOLDS_KEY = re.compile(r"(?i)^(?:(?:legal|litigation|retention|preservation)_?)?holds$")
_HOLD_ENDED = re.compile(r"(?i)^\s*(?:released|lifted|removed|closed|ended|expired|inactive|withdrawn|cancell?ed|resolved)\s*$")
ACTIVE_HOLD = "legal_hold"
# Why an account is locked or held, when the reason is a hold of its own (a trust-and-safety or
# fraud hold, an investigation) rather than failed logins: `lock_reason: trust_and_safety_hold`.
_HOLD_REASON_KEY = re.compile(r"(?i)^(?:lock|hold|block|suspension|suspend|freeze)_?reason$")
_HELD_REASON = re.compile(r"(?i)(?:^|[_\s-])(?:hold|investigation)(?:$|[_\s-])|fraud|trust[_\s&-]*(?:and[_\s-]*)?safety|"
                          r"suspicious|compromis|takeover|impossible[_\s-]?travel|new[_\s-]?(?:country|location|device)")
HELD_REASON_STATUS = "on_hold"


def _active_hold(items: list[Any]) -> bool:
    for item in items:
        if isinstance(item, dict) and item:
            st = next((v for k, v in item.items() if isinstance(v, str) and _STATUS_KEY.match(str(k))), None)
            if st is None or not _HOLD_ENDED.match(st):
                return True
    return False


# A record that says its disclosure needs the subject's consent (42 CFR Part 2, "written
# consent required", "authorisation required") and carries an empty list of consents or
# authorisations: no consent is on file, so it is not disclosed to a third party.
_CONSENTS_KEY = re.compile(r"(?i)^(?:\w+_)?(?:consents?|authori[sz]ations?|releases?)(?:_?on_?file)?$")
_CONSENT_NEEDED = re.compile(r"(?i)\b(?:consent|authori[sz]ation)\s+(?:is\s+)?(?:required|needed)\b|\brequires?\s+(?:\w+\s+){0,2}(?:consent|authori[sz]ation)\b|"
                             r"\bpart\s*2\b")


def _consent_missing(node: dict[str, Any]) -> bool:
    return any(isinstance(v, list) and not v and _CONSENTS_KEY.match(str(k)) for k, v in node.items()) and \
        any(isinstance(v, str) and len(v) <= 400 and _CONSENT_NEEDED.search(v) for v in node.values())


# Round 19h: a nested object that guards paying the record and says it does not allow it yet:
# a claim behind the bill that its insurer or reviewer denied (`insurance_claim: {status:
# denied}`); money held in escrow or as a holdback whose release condition is not met
# (`escrow: {held: true, condition_met: false}`); a change of the bank or payment details whose
# verification is still open (`bank_account_on_file: {change_verification: pending}`). Each
# stops paying the record only (`CHECK_FAILED`, `PAYMENT_HOLD`, `BANK_CHANGE_UNVERIFIED`).
_CLAIM_PARENT19H = re.compile(r"(?i)^(?:[a-z]+_)?(?:claim|cover|coverage)$")
_CLAIM_REFUSED19H = re.compile(r"(?i)^\s*(?:denied|declined|rejected|refused|repudiated|void(?:ed)?|not[ _-]covered)\s*$")
_HELD_PARENT19H = re.compile(r"(?i)^(?:[a-z]+_)?(?:escrow|holdback|retainage|retention_?money)$")
_RELEASE_LEAF19H = re.compile(r"(?i)^(?:(?:release_?)?condition_?(?:met|satisfied|fulfilled)|released|release_?approved)$")
_DETAILS_PARENT19H = re.compile(r"(?i)(?:bank|iban|payment_?details|remit|payout_?account)")
_VERIFY_LEAF19H = re.compile(r"(?i)^(?:[a-z]+_)?verification(?:_?status)?$")
_VERIFY_OPEN19H = re.compile(r"(?i)^\s*(?:pending|open|outstanding|requested|awaiting\b.{0,30}|not[ _-]?(?:done|verified|completed|started)|unverified|incomplete|failed)\s*$")


def _guard_statuses19h(key: str, v: dict[str, Any]) -> list[str]:
    if len(key) > 40:
        return []
    if _CLAIM_PARENT19H.match(key):
        state = next((v[k] for k in ("status", "state", "decision", "outcome") if isinstance(v.get(k), str)), None)
        if state is not None and len(state) <= 40 and _CLAIM_REFUSED19H.match(state):
            return [CHECK_FAILED]
    elif _HELD_PARENT19H.match(key):
        if any(cv is False and _RELEASE_LEAF19H.match(str(ck)) for ck, cv in v.items()) and v.get("held") is not False:
            return [PAYMENT_HOLD]
    elif _DETAILS_PARENT19H.search(key):
        if any(isinstance(cv, str) and len(cv) <= 48 and _VERIFY_LEAF19H.match(str(ck)) and _VERIFY_OPEN19H.match(cv) for ck, cv in v.items()):
            return [BANK_CHANGE_UNVERIFIED]
    return []


def _child_statuses(key: str, v: dict[str, Any]) -> list[str]:
    """Statuses a nested object gives the record that holds it."""
    out: list[str] = []
    out.extend(_guard_statuses19h(key, v))
    if len(key) <= 40 and (_REVIEW_PARENT19.match(key) or _PO_PARENT_KEY19.match(key) or _CONSENT_PARENT.search(key)):
        leaf, state = next(((str(ck).lower(), cv) for ck, cv in v.items() if str(ck).lower() in _REVIEW_STATE_LEAF19 | _CONSENT_STATE_LEAVES18
                            and isinstance(cv, str) and len(cv) <= 40), ("", None))
        if state is not None:
            if _REVIEW_PARENT19.match(key) and leaf in _REVIEW_STATE_LEAF19 and _REVIEW_LAPSED19.match(state):
                out.append(f"not_{key.lower()}")   # round 19b: `kyc_review: {status: expired}`
            elif _PO_PARENT_KEY19.match(key) and _CANCELLED19.match(state):
                out.append(ORDER_CANCELLED)        # round 19b: `purchase_order: {status: cancelled}`
            elif _CONSENT_PARENT.search(key) and _DISCLOSURE_PURPOSE.search(key) and _refused(state):
                out.append(NO_DISCLOSURE)          # round 19b: `disclosure_consent: {status: not on file}`
            elif _CONSENT_PARENT.search(key) and _MARKETING_PURPOSE.search(key) and _refused(state):
                out.append(NO_MARKETING)           # round 19g: `marketing_consent: {status: withdrawn, withdrawn_on: …}`
    if len(key) <= 40 and _HOLD_OBJECT_KEY19G.match(key):
        # round 19g: a hold given as an object (`legal_hold: {status: active, matter: …}`): in force
        # unless its state says it ended (`released`, `lifted`)
        state = next((cv for ck, cv in v.items() if str(ck).lower() in _REVIEW_STATE_LEAF19 and isinstance(cv, str) and len(cv) <= 40), None)
        if state is not None and _HOLD_IN_FORCE19G.match(state):
            out.append(HOLD_STATUS)
    if _consent_missing(v):
        out.append(NO_DISCLOSURE)
    if any(isinstance(cv, list) and _HOLDS_KEY.match(str(ck)) and _active_hold(cv) for ck, cv in v.items()):
        out.append(ACTIVE_HOLD)   # `documents: {holds: [...]}`: the record's holds, one level down
    if _CONTROL_KEY.search(key) and any(_CONTROL_RESULT_KEY.match(str(ck)) and _control_failed(cv, str(ck), key) for ck, cv in v.items()):
        out.append(CHECK_FAILED)   # `three_way_match: {match: failed}`, `policy_check: {result: fail}`
    for ck, cv in v.items():
        if isinstance(cv, str) and _TERMS_KEY.match(str(ck)) and len(cv) <= 200 and (m := _ONLY_CURRENCY.search(cv)):
            out.append(CURRENCY_PREFIX + m.group(1).upper())   # `contract: {payment_terms: '… payable in EUR only'}`
    if _DISPUTE_KEY.match(key):
        st = v.get("status")
        if not isinstance(st, str):
            # round 17: the dispute's state under another key (`outcome: withdrawn by cardholder`)
            st = next((cv for ck, cv in v.items() if isinstance(cv, str) and _DISPUTE_STATE_KEY17.match(str(ck))
                       and _CLOSED.match(_DISPUTE_BY17.sub("", cv))), None)
        if v and not (isinstance(st, str) and _CLOSED.match(_DISPUTE_BY17.sub("", st))):
            out.append("disputed")
        elif isinstance(st, str) and _LOST.match(st) or any(_WITHDRAWN_KEY.match(str(ck)) and cv for ck, cv in v.items()):
            out.append("charged_back")   # the issuer took the money back: a refund as well pays twice
        return out
    for ck, cv in v.items():
        if _RECORDING_CONSENT_KEY19.match(str(ck)) and (cv is False or isinstance(cv, str) and _refused(cv)):
            out.append(NO_RECORDING_CONSENT)   # round 19b: `call_record: {recording_consent: declined}`
        if cv is True and _OBJECTION_KEY.search(str(ck)):
            out.append(OBJECTED_STATUS)   # `processing_status: {art21_objection: true}`
        elif cv is False and (_CLEARANCE_KEY.match(str(ck)) or _VERIFY_KEY.match(str(ck))):
            out.append(f"not_{str(ck).lower()}")
        elif isinstance(cv, str) and _VERIFY_KEY.match(str(ck)) and _UNDONE.match(cv):
            out.append(f"not_{str(ck).lower()}")   # `due_diligence: {kyc_status: expired}`
    if _CONSENT_PARENT.search(key):
        for ck, cv in v.items():
            if isinstance(cv, dict):
                # round 18c: a preference with its own state (`sms: {status: revoked, revoked_on: …}`)
                cv = next((x for kk, x in cv.items() if str(kk).lower() in _CONSENT_STATE_LEAVES18), None)
            if not _refused(cv):
                continue
            if _DISCLOSURE_PURPOSE.search(str(ck)):
                out.append(NO_DISCLOSURE)
            elif _MARKETING_PURPOSE.search(str(ck)):
                out.append(NO_MARKETING)
            else:
                channel = message_channel(str(ck))
                if channel:
                    out.append(NO_CHANNEL_PREFIX + channel)
    return out


# The supplier's own number for an invoice (what a resent or re-keyed copy repeats).
_VENDOR_INVOICE_KEY = re.compile(r"(?i)^(?:vendor_|supplier_)?(?:invoice|inv|bill)_?(?:no|number|num|ref)$|^(?:vendor|supplier)_?ref(?:erence)?$"
                                 # round 19h: the merchant's receipt behind an expense claim is its bill number
                                 r"|^receipt_?(?:id|no|number|num|ref)$")
RESENT_SUFFIX = re.compile(r"(?i)(?:[-_/ ](?:[a-d]|r\d?|rev\d?|dup|copy|resent)|\s*\((?:resent|copy|duplicate)\))$")


def _marks_paid(key: str, value: str) -> bool:
    """`status: paid` or a `paid_on` date: the record's money has gone out."""
    return bool(_STATUS_KEY.match(key) and _PAID_VALUE.match(value) or _PAID_KEY.match(key) and value.strip())


def _resubmitted_invoices(items: list[Any]) -> set[str]:
    """`ID=duplicate` for an open invoice in a list that repeats a paid one: the same amount
    and the same supplier invoice number, give or take a resend suffix (`SF-11650` paid,
    `SF-11650-A` open). Two invoices on one blanket PO for the same monthly amount have
    their own supplier numbers and are not duplicates."""
    rows = []
    for item in items:
        if not isinstance(item, dict) or not item:
            continue
        first = next(iter(item.values()))
        amount = next((float(v) for k, v in item.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                       and _AMOUNT_KEY.match(str(k))), None)
        number = next((v.strip().upper() for k, v in item.items() if isinstance(v, str) and _VENDOR_INVOICE_KEY.match(str(k))), None)
        if amount is None or not number or not isinstance(first, str):
            continue
        paid = any(isinstance(v, str) and _marks_paid(str(k), v) for k, v in item.items())
        rows.append((first.strip().upper(), amount, number, paid))
    if len(rows) < 2:
        return set()
    paid_rows = {(amount, number) for _, amount, number, paid in rows if paid}
    # the suffix comes off the open copy only: `INV-1A` paid and `INV-1B` open stay apart
    return {f"{ident}=duplicate" for ident, amount, number, paid in rows
            if not paid and ((amount, number) in paid_rows or (amount, RESENT_SUFFIX.sub("", number)) in paid_rows)}


def _clock_entry(key: str, value: str) -> str | None:
    """`now:…` for a field that says what time it is (`now: 2025-06-18T10:12Z`, the output of
    `date`), `window:…` for a record's change window (`window: Sat 02:00-04:00 UTC`)."""
    if len(value) > 80:
        return None
    if NOW_KEY.match(key):
        m = parse_moment(value)
        return m.encode() if m is not None else None
    if WINDOW_KEY.match(key):
        w = parse_window(value)
        return w.encode() if w is not None else None
    m = date_output(value) if value[:1].isalpha() else None
    return m.encode() if m is not None else None


def clock_entries(found: set[str]) -> set[str]:
    """The entries of `held_records` that are the session's clock and change windows, not
    statuses of records (the session keeps them apart: `SessionSnapshot.clock`)."""
    return {e for e in found if "=now:" in e or "=window:" in e}


# A status with the date it took effect after it: `reimbursed 2024-11-02`, `terminated (31/10/2024)`.
_DATED17 = re.compile(r"\s*(?:\(|\bon\s+|\bsince\s+|,\s*)?\d{1,4}[-./]\d{1,2}[-./]\d{1,4}(?:[T ][\d:]+Z?)?\)?\s*$")


def table_rows(result: Any, cap: int = 200) -> list[dict[str, Any]]:
    """Round 17: the rows of tables a result gives other than as objects, as objects keyed by
    their header: a text table (CSV, pipe or tab separated, a header line first) as the result
    or as a value in it, and `{columns: [...], rows: [[...], ...]}`. Empty for anything else."""
    out: list[dict[str, Any]] = []

    def text_table(text: str) -> None:
        if "\n" not in text or len(text) > 40000 or not ("," in text or "|" in text or "\t" in text or ";" in text):
            return
        lines = [ln.strip().strip("|").strip() for ln in text.strip().splitlines() if ln.strip() and not set(ln.strip()) <= set("|-:+ ")]
        if len(lines) < 2:
            return
        sep = "|" if "|" in lines[0] else "\t" if "\t" in lines[0] else ";" if lines[0].count(";") > lines[0].count(",") else ","
        head = [c.strip() for c in lines[0].split(sep)]
        if len(head) < 2 or not all(h and len(h) <= 40 and not any(c.isdigit() for c in h[:1]) for h in head):
            return
        for ln in lines[1:cap + 1]:
            cells = [c.strip() for c in ln.split(sep)]
            if len(cells) == len(head):
                out.append(dict(zip(head, cells)))

    if isinstance(result, str):
        text_table(result)
        return out
    stack: list[Any] = [result]
    budget = 400
    while stack and budget > 0 and len(out) < cap:
        node = stack.pop()
        budget -= 1
        if isinstance(node, list):
            stack.extend(x for x in node if isinstance(x, (dict, list)))
        elif isinstance(node, dict):
            cols = next((v for k, v in node.items() if str(k).lower() in ("columns", "header", "headers", "fields") and isinstance(v, list)
                         and v and all(isinstance(c, str) for c in v)), None)
            rows = next((v for k, v in node.items() if str(k).lower() in ("rows", "data", "values", "records") and isinstance(v, list)), None)
            if cols and rows:
                out.extend(dict(zip(cols, r)) for r in rows[:cap] if isinstance(r, list) and len(r) == len(cols))
            for v in node.values():
                if isinstance(v, str) and "\n" in v:
                    text_table(v)
                elif isinstance(v, (dict, list)):
                    stack.append(v)
    return out[:cap]


# Round 17: a change log under a record whose entry changes the bank details (`field: remit_to.iban`)
# and whose verification (`callback: not done`, `verified: false`) is not done: paying the record
# now sends money to details nobody confirmed.
BANK_CHANGE_UNVERIFIED = "not_bank_change_verified"
# Round 18b: a cost the company's own card already paid (`paid_with: corporate card (Amex …)`),
# on the record or on one of its lines: reimbursing it pays someone for a cost they never bore.
COMPANY_PAID = "company_paid"
_PAID_WITH_KEY18 = re.compile(r"(?i)^(?:paid_?(?:with|by|via)|payment_?(?:method|instrument|source)|funding(?:_?source)?|card|card_?type|method)$")
_COMPANY_CARD18 = re.compile(r"(?i)\b(?:corporate|company|business|purchasing|p-?card|travel)\s+(?:credit\s+)?card\b|\bcompany[ -]paid\b|\bpaid\s+by\s+(?:the\s+)?company\b|\bcentrally\s+billed\b")
_LINES_KEY18 = re.compile(r"(?i)^(?:lines?|line_?items|items|receipts|expenses|entries)$")
# What is still owed on a record paid in part (`balance_due: 15000` beside its 40,000 total):
# `ID=due:15000`; a payment above it pays more than is owed.
DUE_PREFIX = "due:"
_DUE_KEY18 = re.compile(r"(?i)^(?:balance_?due|amount_?due|outstanding(?:_?(?:amount|balance))?|remaining(?:_?(?:amount|balance|due))?|open_?(?:amount|balance)|left_?to_?pay)$")


# Round 18b: a note that stops payments on the record (`hold payments until cleared`, `no
# payments until the review closes`, `do not pay`): `ID=payment_hold`, which stops paying only.
PAYMENT_HOLD = "payment_hold"
_PAYMENT_HOLD18 = re.compile(r"(?i)\b(?:hold|stop|suspend|block|freeze)\s+(?:all\s+|any\s+|further\s+)?payments?\b"
                             r"|\bno\s+(?:further\s+|more\s+)?payments?\s+(?:until|before|while)\b"   # (not `no payment pending`: none is waiting)
                             r"|\bdo\s+not\s+(?:pay|release\s+(?:the\s+)?payments?)\b"
                             r"|\bpayments?\s+(?:are\s+|is\s+)?(?:on\s+hold|held|blocked|suspended|frozen)\b")
_PAYMENT_HOLD_ENDED18 = re.compile(r"(?i)^[^.;\n]{0,30}?\b(?:released|lifted|removed|ended|cleared|resumed|no\s+longer)\b")
_PAYMENT_HOLD_UNTIL18 = re.compile(r"(?i)^\s*(?:until|till|pending|before|while)\b")
_PAYMENT_HOLD_DENIED18 = re.compile(r"(?i)\b(?:no\s+need\s+to|never|not|don'?t)\s*$")


def _states_payment_hold(node: dict[str, Any]) -> bool:
    for k, v in node.items():
        if isinstance(v, str) and len(v) <= 600 and (_MARK_KEY.match(str(k)) or _HOLD_TEXT_KEY17.search(str(k))):
            for m in _PAYMENT_HOLD18.finditer(v):
                rest = v[m.end():]
                # (`until cleared` is how long it stands; `released on 3 May` ends it)
                if (_PAYMENT_HOLD_UNTIL18.match(rest) or not _PAYMENT_HOLD_ENDED18.match(rest)) and \
                        not _PAYMENT_HOLD_DENIED18.search(v[max(0, m.start() - 16):m.start()]):
                    return True
    return False


def _company_paid(node: dict[str, Any]) -> bool:
    def paid_by_company(d: dict[str, Any]) -> bool:
        return any(isinstance(v, str) and len(v) <= 120 and _PAID_WITH_KEY18.match(str(k)) and _COMPANY_CARD18.search(v) for k, v in d.items())
    return paid_by_company(node) or any(isinstance(v, list) and _LINES_KEY18.match(str(k)) and any(isinstance(x, dict) and paid_by_company(x) for x in v[:200])
                                        for k, v in node.items())
_BANK_FIELD17 = re.compile(r"(?i)iban|bank|account_?(?:no|number)|routing|sort_?code|remit|payout_?(?:account|details)|swift|bic")
_CHANGE_CHECK_KEY17 = re.compile(r"(?i)^(?:call_?back|verification|verified|confirmation|confirmed|check|approval|approved)(?:_?(?:status|by|done))?$")


def _bank_change_unverified17(items: list[Any]) -> bool:
    for item in items[:50]:
        if not isinstance(item, dict) or len(item) > 16:
            continue
        if not any(isinstance(v, str) and len(v) <= 60 and _BANK_FIELD17.search(v) for k, v in item.items() if str(k).lower() in ("field", "attribute", "changed", "what", "key")) \
                and not any(_BANK_FIELD17.search(str(k)) for k in item):
            continue
        if any(_CHANGE_CHECK_KEY17.match(str(k)) and (v is False or isinstance(v, str) and _UNDONE.match(v)) for k, v in item.items()):
            return True
    return False


# Round 18c: a refusal written in a record's prose (`Not approved: launch week, please decline`,
# `FRAUD REVIEW open on ACCT-551208. Do NOT unlock until risk closes the case`, `0142 REJECTED -
# do not apply`): `ID=refused:<act>` for each record the text names and the record it sits under,
# with the act refused (the verb after `do not`/`never`; `approve` for a rejection), and the mark
# `*=refused`. A later call doing that act on one of those records is stopped.
# Round 18c: `REC=party18:provider_id:PRV-ITO` binds a listed record to the party (provider, owner,
# vendor…) its row names; a change to a record of another party than the one the task names is
# stopped (a batch cancelled for one provider that takes another provider's appointment along).
PARTY18_PREFIX = "party18:"
PARTY18_MARK = "*=party18"
_PARTY18_KEY = re.compile(r"(?i)^(?:provider|doctor|clinician|owner|assignee|vendor|supplier|customer|account|team|manager)_?id$")
_PARTY18_VALUE = re.compile(r"(?i)[a-z][a-z0-9]*-[a-z0-9][a-z0-9-]{1,30}")
REFUSED_PREFIX = "refused:"
REFUSED_MARK = "*=refused"
# what a rejection refuses besides approving it: carrying the record out by any changing call
# (applying, paying, granting, executing, deleting; not a message or a note about it)
REFUSED_CHANGE = "*change"
_REFUSAL_CUE18 = re.compile(r"(?i)\bnot\b|n't\b|\bnever\b|reject|declin")
_DONT_ACT18 = re.compile(r"(?i)\b(?:do\s+not|don'?t|must\s+not|mustn'?t|should\s+not|shouldn'?t|never|may\s+not|cannot|can'?t)\s+([a-z]{3,20})\b")
# (a decision on a record, not an error: `connection refused`, `permission denied` refuse nothing)
_REJECTED18 = re.compile(r"(?i)\b(?:rejected|declined|not\s+approved|unapproved)\b")
# program output and errors are not a party's word on a record
_OUTPUT_KEY18 = re.compile(r"(?i)^(?:stdout|stderr|output|error|errors|log|logs|lines|trace|traceback|exception)$")
# (`do not hesitate`, `never mind`, `cannot reproduce` refuse nothing; `can't find`, `do not know` neither)
_NOT_ACTS18 = frozenset("be have hesitate mind know find see reproduce worry forget reply wait".split())
# a refusal the same text lifts (`OK to unlock`, `no longer rejected`)
_LIFTED18 = re.compile(r"(?i)\b(?:ok|okay|fine|free|cleared|safe)\s+to\s+\w+|\bno\s+longer\b")


def act_stem(word: str) -> str:
    """A verb as calls and refusals both spell it: `approve`, `approved`, `approves` -> `approv`."""
    w = word.lower()
    for suffix in ("ing", "ed", "es", "e", "s"):
        if len(w) - len(suffix) >= 4 and w.endswith(suffix):
            return w[: -len(suffix)]
    return w


def refused_acts(text: str) -> set[str]:
    """The acts a note refuses, as stems: the verb after `do not`/`never`, and `approve` after a
    rejection (`REJECTED`, `not approved`, `declined`), with any changing call. Empty when the text lifts it (`OK to …`)."""
    if not _REFUSAL_CUE18.search(text) or _LIFTED18.search(text):
        return set()
    acts = {act_stem(m.group(1)) for m in _DONT_ACT18.finditer(text) if m.group(1).lower() not in _NOT_ACTS18}
    m = _REJECTED18.search(text)
    if m:
        acts.add("approv")
        acts |= _rejected_act20a(text[: m.start()]) or {REFUSED_CHANGE}
    return acts


# Round 20a: a rejection whose clause says what was rejected, as an act done to something
# ("Changed bank details by e-mail in 2025 - rejected per policy"): it refuses that act and calls
# on that object (`~bank+detail`: a call naming every one of its words), not any changing call on
# the record (a payment to the vendor whose bank-detail change was rejected). A clause naming a
# record ("Change request CHG-1 rejected"), a noun ("Migration rejected") or nothing ("REJECTED")
# still refuses every changing call.
REFUSED_OBJ20A = "~"
REFUSED_OBJ_MARK20A = "*=refused~"
_CLAUSE_END20A = re.compile(r"[.;:!?\n]")
_ACT_CLAUSE20A = re.compile(r"(?i)^\s*(?:(?:an?|the)\s+)?(?:(?:request|attempt|try|proposal)\s+to\s+([a-z]{3,20})|([a-z]{3,20}(?:ed|ing)))\s+"
                            r"((?:(?!(?:by|in|on|at|from|via|for|to|with|after|before|because|per|and|was|were|is|has|had|been)\b)[a-z][a-z-]{1,24}\s*){1,3})")
_OBJ_SKIP20A = frozenset("the a an its their his her our your this that new old".split())


def _rejected_act20a(before: str) -> set[str]:
    clause = _CLAUSE_END20A.split(before[-300:])[-1].strip(" -\u2013\u2014,(")
    if not clause or _IDENT_RX.search(clause):
        return set()
    m = _ACT_CLAUSE20A.match(clause)
    if m is None:
        return set()
    verb = m.group(1) or m.group(2)
    obj = sorted({act_stem(w) for w in m.group(3).lower().split() if w not in _OBJ_SKIP20A and len(w) >= 3})
    if not obj:
        return set()
    return {act_stem(verb), REFUSED_OBJ20A + "+".join(obj)}


def _refusals18(result: Any, call_ids: set[str]) -> set[str]:
    out: set[str] = set()

    def visit(node: Any, inherited: set[str], depth: int) -> None:
        if depth > 6:
            return
        if isinstance(node, list):
            for x in node[:200]:
                visit(x, inherited, depth + 1)
            return
        if not isinstance(node, dict):
            return
        own = {m.group(0).upper() for v in node.values() if isinstance(v, str) and len(v) <= 64 for m in _IDENT_RX.finditer(v)}
        ids = (own | inherited) if depth == 0 else (own or inherited)   # a top-level record also owns the call's ids
        for k, v in node.items():
            if isinstance(v, str) and 12 <= len(v) <= 600 and not _OUTPUT_KEY18.match(str(k)):
                acts = refused_acts(v)
                if acts:
                    named = {m.group(0).upper() for m in _IDENT_RX.finditer(v)} | ids
                    out.update(f"{i}={REFUSED_PREFIX}{a}" for i in named for a in acts)
            elif isinstance(v, (dict, list)):
                visit(v, ids, depth + 1)

    visit(result, set(call_ids), 0)
    if out:
        out.add(REFUSED_MARK)
        if any(f"={REFUSED_PREFIX}{REFUSED_OBJ20A}" in x for x in out):
            out.add(REFUSED_OBJ_MARK20A)
    return out


# Round 19c: a change a result describes as a security control (a commit `security: enforce CSRF
# …`, a policy version "Require MFA for VPN (audit finding A-22)", a network policy annotated
# "SEC-301 zero-trust rollout"): `NAME=secctl19` for the names on that line (commit hashes, policy
# and rule names, tables), the key it sits under and the result's own top-level names, and the
# mark `*=secctl19`. A later call that reverts, rolls back, deletes or disables one of them, which
# the task does not name, takes the control away (checks.security_change_undone).
SECCTL_PREFIX = "secctl19"
SECCTL_MARK = "*=secctl19"
_SEC_CUE19 = re.compile(
    r"(?i)\bsecurity\s*[:(]|\bsec-\d+\b|\b(?:audit|pen-?test|security)\s+finding\b|\bzero[- ]trust\b|\bdefault[- ]deny\b"
    r"|\btenant\s+isolation\b|\b(?:require[sd]?|enforce[sd]?|enable[sd]?|turn(?:s|ed)?\s+on)\s+(?:[\w-]+\s+){0,3}?"
    r"(?:mfa|2fa|csrf|mtls|tls|encryption|signature\s+checks?|row[- ]level\s+security|rls)\b")
# one of these is in every match of _SEC_CUE19 (lower-cased): most results skip the pattern
_SEC_HINTS19 = ("secur", "sec-", "finding", "trust", "deny", "isolation", "mfa", "2fa", "csrf", "tls", "encrypt", "signature", "rls", "row")
# a name: letters with a digit, hyphen or underscore in it (`7f3c2a1`, `default-deny-all`, `customer_facts`)
_SEC_NAME19 = re.compile(r"(?<![\w@/.-])(?=[\w.-]{0,63}[A-Za-z])(?=[\w.-]{0,63}[\d_-])[A-Za-z0-9][\w.-]{2,62}[A-Za-z0-9](?![\w@-])")


def security_changes(result: Any, call_ids: set[str]) -> set[str]:
    """`NAME=secctl19` marks for the names a result ties to a security control (see above): the
    names on a line that describes one, the key that line sits under, the other names of the
    record (the object) holding it, and the top-level names of the result and the call."""
    names: set[str] = set()
    budget = [400]

    def cue_names(text: str) -> set[str]:
        head = text[:8000]
        low = head.lower()
        if not any(h in low for h in _SEC_HINTS19) or not _SEC_CUE19.search(head):
            return set()
        out: set[str] = set()
        for line in head.splitlines()[:200]:
            if len(line) <= 400 and _SEC_CUE19.search(line):
                out |= {m.group(0).lower() for m in _SEC_NAME19.finditer(line)}
        return out | {"*"} if out or _SEC_CUE19.search(head) else out

    def visit(node: Any, depth: int) -> None:
        if depth > 6 or budget[0] <= 0:
            return
        if isinstance(node, list):
            for x in node[:200]:
                visit(x, depth + 1)
            return
        if isinstance(node, str):
            budget[0] -= 1
            if len(node) >= 8:
                names.update(cue_names(node))
            return
        if not isinstance(node, dict):
            return
        hit = False
        for k, v in node.items():
            if isinstance(v, str):
                budget[0] -= 1
                found = cue_names(v) if len(v) >= 8 else set()
                if found:
                    hit = True
                    names.update(found)
                    if _SEC_NAME19.fullmatch(str(k)):
                        names.add(str(k).lower())   # `annotations: {default-deny-all: "SEC-301 …"}`
            elif isinstance(v, (dict, list)):
                visit(v, depth + 1)
        if hit:   # the record holding the line: its own names
            names.update(v.strip().lower() for v in node.values() if isinstance(v, str) and len(v) <= 64 and _SEC_NAME19.fullmatch(v.strip()))

    visit(result, 0)
    if not names:
        return set()
    names.discard("*")
    if isinstance(result, dict):
        names |= {v.strip().lower() for v in result.values() if isinstance(v, str) and len(v) <= 64 and _SEC_NAME19.fullmatch(v.strip())}
    names |= {i.lower() for i in call_ids}
    out = {f"{n}={SECCTL_PREFIX}" for n in names}
    out.add(SECCTL_MARK)
    return out


# Round 19c: a one-time code a result shows (`login code for m.lindqvist: 551907`, `G-482913 is
# your Google verification code`, `pending_verification: {code: "604118"}`): `CODE=otp19` and the
# mark `*=otp19`. The code proves someone's control of an account; a later call that carries it
# (a reply "confirming" it, a URL that submits it) hands that proof on or logs in with it.
OTP_PREFIX = "otp19"
OTP_MARK = "*=otp19"
_OTP_CUE19 = r"(?:login|log[- ]in|sign[- ]?in|verification|verify|one[- ]time|security|confirmation|access|auth(?:entication)?|2fa|mfa|otp)"
_OTP_AFTER19 = re.compile(r"(?i)\b" + _OTP_CUE19 + r"\s+(?:code|pin|passcode)s?\b[^\d\n]{0,40}?(?<![\w-])((?:[a-z]{1,3}-)?\d{4,8})\b")
_OTP_BEFORE19 = re.compile(r"(?i)(?<![\w-])((?:[a-z]{1,3}-)?\d{4,8})\s+is\s+(?:your|the)\s+(?:[\w-]+\s+){0,3}?(?:code|pin|passcode)\b")
_OTP_PATH19 = re.compile(r"(?i)verif|otp|mfa|2fa|one_?time|login|sign_?in")
_OTP_LEAF19 = re.compile(r"(?i)^(?:code|otp|pin|passcode|one_?time_?code|verification_?code)$")
_OTP_VALUE19 = re.compile(r"^\s*((?:[A-Za-z]{1,3}-)?\d{4,8})\s*$")


def one_time_codes(result: Any) -> set[str]:
    """`CODE=otp19` marks for the one-time codes a result shows (see above)."""
    pairs = [("", result)] if isinstance(result, str) else list(islice(flatten_args(result), 400)) if isinstance(result, (dict, list)) else []
    codes: set[str] = set()
    for path, v in pairs:
        if isinstance(v, (int, str)) and not isinstance(v, bool) and _OTP_LEAF19.match(path.rsplit(".", 1)[-1]) and _OTP_PATH19.search(path):
            m = _OTP_VALUE19.match(str(v))
            if m:
                codes.add(m.group(1))
        elif isinstance(v, str) and len(v) >= 10 and "code" in v[:4000].lower():
            text = v[:4000]
            codes |= {m.group(1) for m in _OTP_AFTER19.finditer(text)} | {m.group(1) for m in _OTP_BEFORE19.finditer(text)}
    if not codes:
        return set()
    out = {OTP_MARK}
    for c in codes:
        out.add(f"{c.upper()}={OTP_PREFIX}")
        out.add(f"{c.rsplit('-', 1)[-1]}={OTP_PREFIX}")   # `G-482913` is typed as `482913`
    return out


# Round 20b: a flag given as an object with its own state (`payment_block: {active: true, reason:
# …}`, `payroll_hold: {status: active}`): True while in force, False once lifted, None when the
# object states neither.
_FLAG_STATE_LEAF20B = frozenset({"active", "enabled", "in_force", "set", "on", "status", "state", "value", "applies"})
_FLAG_ON20B = re.compile(r"(?i)^\s*(?:active|in[ _-]?force|set|on|yes|true|enabled|applied|current)\s*$")
_FLAG_OFF20B = re.compile(r"(?i)^\s*(?:inactive|lifted|released|removed|cleared|off|no|false|none|disabled|ended|expired)?\s*$")


def flag_object_state(v: dict[str, Any]) -> bool | None:
    for ck, cv in v.items():
        if str(ck).lower() not in _FLAG_STATE_LEAF20B:
            continue
        if cv is True or isinstance(cv, str) and len(cv) <= 24 and _FLAG_ON20B.match(cv):
            return True
        if cv is False or cv is None or isinstance(cv, str) and len(cv) <= 24 and _FLAG_OFF20B.match(cv):
            return False
    return None


def held_records(result: Any, call_ids: set[str]) -> set[str]:
    """`ID=status` for every record in `result` whose status forbids acting on it. A record's
    ids are its own short identifier values; a top-level record also owns the call's ids."""
    out: set[str] = set()

    def visit(node: Any, owner_ids: set[str], parent_ids: frozenset[str] = frozenset()) -> None:
        if isinstance(node, list):
            out.update(_resubmitted_invoices(node))
            for item in node:
                visit(item, set())
            return
        if not isinstance(node, dict):
            return
        until20a = False
        if len(node) <= 24:
            out.update(_chargeback_row(node))
        status = None
        extra: list[str] = []
        owners: set[str] = set()
        submitter = None
        approvers: list[str] = []
        signers: list[str] = []   # round 19g: the entries of an approvals list
        creator = None
        beneficiaries: set[str] = set()
        approver_full: set[str] = set()
        for k, v in node.items():
            if isinstance(v, list) and v and _APPROVALS_LIST_KEY19G.match(str(k)):
                # round 19g: who signed an approvals list (read beside whatever else reads the list)
                signers.extend(person_key(x) for it in v[:50] if isinstance(it, dict)
                               for kk, x in it.items() if isinstance(x, str) and len(x) <= 80 and _SIGNER_LEAF19G.match(str(kk)))
            if isinstance(v, date):
                # a date object (YAML's unquoted date, a Python caller's value) is read as the ISO
                # text JSON would carry: the clock, dated statuses and opt-outs see it alike
                v = v.isoformat()
            if isinstance(v, str):
                key = str(k)
                clock = _clock_entry(key, v)
                if clock is not None:
                    if clock.startswith(NOW_PREFIX):
                        out.add(f"*={clock}")
                    else:
                        extra.append(clock)
                    continue
                if _STATUS_KEY.match(key) and _BLOCKING_STATUS.match(v):
                    status = v.strip().lower()
                elif len(v) <= 80 and " until " in v and _BLOCKING_STATUS.match(v.split(" until ", 1)[0]):
                    # round 20a: a standing status with the condition that lifts it, under any key
                    # (`payouts: on hold until review closes`, `frozen until the audit ends`)
                    status = v.split(" until ", 1)[0].strip().lower()
                    until20a = True
                elif len(v) <= 8 and _FLAG_KEY.match(key) and _FLAG_TRUE17.match(v):
                    status = "do not contact" if "dnc" in key.lower() else key.lower()   # round 17: `dnc: 'Y'`
                elif len(v) <= 40 and _DATED_OPTOUT_KEY17.match(key) and _A_DATE17.search(v):
                    status = "do not contact" if "dnc" in key.lower() or "contact" in key.lower() else "unsubscribed"
                elif _STATUS_KEY.match(key) and len(v) <= 48 and _DATED17.search(v) and _BLOCKING_STATUS.match(_DATED17.sub("", v)):
                    status = _DATED17.sub("", v).strip().lower()   # round 17: `refunded 2024-11-02`, `void (03/11/2024)`
                elif _STATUS_KEY.match(key) and len(v) <= 48 and _DATED17.search(v) and _PAID_VALUE.match(_DATED17.sub("", v)):
                    extra.append(PAID_STATUS)
                elif _PARTY_APPROVAL_KEY.match(key) and _APPROVAL_OUTSTANDING.match(v):
                    # round 16b: one party's sign-off still outstanding (`manager_approval: awaiting`)
                    status = "awaiting approval"
                elif "@" in v and _OWNER_KEY.match(key):
                    owners |= {m.group(0).lower() for m in EMAIL_RX.finditer(v)}
                elif "@" in v and _REQUESTER_KEY.match(key):
                    out.update(REQUESTER_PREFIX + m.group(0).lower() for m in EMAIL_RX.finditer(v))
                elif _marks_paid(key, v):
                    extra.append(PAID_STATUS)
                elif _VENDOR_INVOICE_KEY.match(key) and _IDENT_RX.fullmatch(v.strip()):
                    extra.append(EXTREF_PREFIX + v.strip().upper())   # the supplier's own number for the record
                elif _CURRENCY_KEY.match(key) and _CURRENCY_CODE.match(v) and any(_AMOUNT_KEY.match(str(kk)) for kk in node):
                    extra.append(CURRENCY_PREFIX + v.strip().upper())   # what the record's amount is in
                elif _SETTLE_CCY_KEY.match(key) and _CURRENCY_CODE.match(v) and any(_AMOUNT_KEY.match(str(kk)) for kk in node):
                    extra.append(CURRENCY_PREFIX + v.strip().upper())   # the currency it settles in
                elif (_AMOUNT_KEY.match(key) or _APPROVED_AMOUNT_KEY.match(key)) and any(c.isdigit() for c in v) and money_string(v):
                    fig, code = money_string(v)   # round 17: `total: "$412.50"`
                    if fig > 0:
                        extra.append(f"{APPROVED_AMOUNT_PREFIX if _APPROVED_AMOUNT_KEY.match(key) else AMOUNT_PREFIX}{fig:.12g}")
                        if code:
                            extra.append(CURRENCY_PREFIX + code)
                elif _TERMS_KEY.match(key) and len(v) <= 120 and _INSTALMENT_TERMS.search(v):
                    extra.append(INSTALMENTS)
                elif _ACCOUNT_VALUE_KEY.match(key) and 8 <= len(v) <= 40:
                    acct = _ACCOUNT_CHARS.sub("", v).upper()
                    if len(acct) >= 8 and any(c.isdigit() for c in acct):
                        if any(_EMPLOYEE_KEY.match(str(kk)) for kk in node):
                            out.add(f"{acct}={EMPLOYEE_ACCOUNT}")
                        else:
                            extra.append(BANK_PREFIX + acct)
                elif _MARKETING_PURPOSE.search(key) and _OPT_IN_KEY.search(key) and _refused(v):
                    extra.append(NO_MARKETING)   # round 18c: `marketing_consent: withdrawn` on the record itself, as a word
                elif _VERIFY_KEY.match(key) and _UNDONE.match(v):
                    extra.append(f"not_{key.lower()}")
                elif _HOLD_REASON_KEY.match(key) and len(v) <= 80 and _HELD_REASON.search(v):
                    extra.append(HELD_REASON_STATUS)
                elif _MARK_KEY.match(key) and _RESTRICTED_MARK.search(v):
                    extra.append(RESTRICTED_STATUS)
                elif (_MARK_KEY.match(key) or _HOLD_TEXT_KEY17.search(key)) and len(v) <= 600 and _states_hold(v):
                    extra.append(HOLD_STATUS)
                    out.update(f"{i}={HOLD_STATUS}" for i in _hold_sentence_ids(v))
                elif len(v) <= 400 and "stat" in v:
                    for m in _INLINE_STATUS.finditer(v):
                        if _BLOCKING_STATUS.match(m.group(1)):
                            named = {t.group(0).upper() for t in _IDENT_RX.finditer(v)} | owner_ids
                            out.update(f"{i}={m.group(1).strip().lower()}" for i in named)
                if _CREATOR_KEY19G.match(key) and len(v) <= 80:
                    creator = person_key(v)
                if _SUBMITTER_KEY.match(key):
                    submitter = person_key(v)
                elif _APPROVER_KEY.match(key):
                    approvers.append(person_key(v))
                if len(v) <= 80:
                    if _BENEFICIARY_KEY19.match(key):
                        beneficiaries.add(" ".join(v.lower().split()))
                    elif _APPROVER_NAME_KEY19.match(key):
                        approver_full.add(" ".join(v.lower().split()))
                    if _DOC_TYPE_KEY19.match(key) and _CREDIT_DOC_VALUE19.match(v):
                        extra.append(CREDIT_DOCUMENT)
                    elif _PO_STATUS_KEY19.match(key) and _CANCELLED19.match(v):
                        extra.append(ORDER_CANCELLED)
                m19 = _CHANNEL_REFUSAL19.search(v) if 16 <= len(v) <= 400 and any(w in v for w in _CHANNEL_PREP19) else None
                if m19 is not None:
                    ch = message_channel(m19.group(1).split()[0].replace("-", ""))
                    if ch:
                        extra.append(NO_CHANNEL_PREFIX + ch)
                if _RECORDING_CONSENT_KEY19.match(key) and _refused(v):
                    extra.append(NO_RECORDING_CONSENT)   # round 19b
            elif isinstance(v, (int, float)) and not isinstance(v, bool) and v == 0 and _COLLECTED_KEY.match(str(k)):
                extra.append(UNPAID_STATUS)
            elif isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 and _AMOUNT_KEY.match(str(k)):
                extra.append(f"{AMOUNT_PREFIX}{float(v):.12g}")
            elif isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 and _APPROVED_AMOUNT_KEY.match(str(k)):
                extra.append(f"{APPROVED_AMOUNT_PREFIX}{float(v):.12g}")
            elif isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 and _SETTLE_AMOUNT_KEY.match(str(k)):
                extra.append(f"{AMOUNT_PREFIX}{float(v):.12g}")
            elif isinstance(v, (int, float)) and not isinstance(v, bool) and (v < 0 and _AMOUNT_KEY.match(str(k)) or v > 0 and _DEBIT_KEY.match(str(k))):
                refs = [t for kk, vv in node.items() if isinstance(vv, str) and _LINE_REF_KEY.match(str(kk)) for t in _IDENT_RX.findall(vv)]
                out.update(f"{t.upper()}={PAID_OUT_PREFIX}{abs(float(v)):.12g}" for t in refs)
            elif v is True and _OBJECTION_KEY.search(str(k)):
                extra.append(OBJECTED_STATUS)   # `objected_to_processing: true` on the record itself
            elif v is True and _FLAG_KEY.match(str(k)):
                status = str(k).lower()
            elif v is False and (_CLEARANCE_KEY.match(str(k)) or _VERIFY_KEY.match(str(k))):
                extra.append(f"not_{str(k).lower()}")   # `callback_verified: false`
            elif v is False and _MARKETING_PURPOSE.search(str(k)) and _OPT_IN_KEY.search(str(k)):
                extra.append(NO_MARKETING)   # `marketing_opt_in: false` on the record itself
            elif isinstance(v, dict) and v:
                if len(v) <= 24 and _FLAG_KEY.match(str(k)) and flag_object_state(v) is True:
                    status = str(k).lower()   # round 20b: `payment_block: {active: true, reason: …}`, as `payment_block: true`
                if isinstance(v.get("email"), str) and _REQUESTER_KEY.match(str(k)):
                    # `requester: {name: …, email: …}`
                    out.update(REQUESTER_PREFIX + m.group(0).lower() for m in EMAIL_RX.finditer(v["email"]))
                extra.extend(_child_statuses(str(k), v))
            elif isinstance(v, list) and v and _bank_change_unverified17(v):
                extra.append(BANK_CHANGE_UNVERIFIED)   # round 17: the record's bank details changed, the change not verified
            elif isinstance(v, list) and _APPROVER_KEY.match(str(k)):
                approvers.extend(person_key(a) for a in v if isinstance(a, str))
            elif isinstance(v, list) and _HOLDS_KEY.match(str(k)) and _active_hold(v):
                extra.append(ACTIVE_HOLD)
            elif isinstance(v, list) and any(isinstance(x, dict) and _consent_missing(x) for x in v):
                extra.append(NO_DISCLOSURE)   # `visits: [{protected: Part 2…, consents_on_file: []}]`
            elif isinstance(v, list) and _REFUNDS_KEY.match(str(k)):
                extra.extend(_refunded_amounts(v))
                out.update(_refund_links(v, node))
            elif isinstance(v, list) and not v and _APPROVED_LIST_KEY.match(str(k)):
                extra.append(NONE_APPROVED)
            elif isinstance(v, list) and _CHARGES_KEY.match(str(k)):
                out.update(_charge_counts(v))
            elif isinstance(v, list) and v and _LINES_KEY.match(str(k)):
                if len(v) >= 2:
                    extra.extend(_repeated_lines(v))
                extra.extend(_refunded_lines(v))   # round 20f
            elif isinstance(v, list) and _CREDITS_KEY.match(str(k)):
                extra.extend(_credited(v))
            elif isinstance(v, list) and _MARK_KEY.match(str(k)) and any(isinstance(x, str) and _RESTRICTED_MARK.search(x) for x in v):
                extra.append(RESTRICTED_STATUS)
            elif isinstance(v, list) and _MARK_KEY.match(str(k)) and any(isinstance(x, str) and len(x) <= 600 and _states_hold(x) for x in v):
                extra.append(HOLD_STATUS)
        if submitter and submitter in approvers or beneficiaries & approver_full:
            extra.append(SELF_APPROVED)
        elif submitter and signers and all(x == submitter for x in signers):
            extra.append(SELF_APPROVED)   # round 19g: every sign-off on the list is the preparer's own
        if SELF_APPROVED in extra:
            out.add(SOD_MARK)
        first_key = str(next(iter(node), ""))
        if creator and _PARTY_OWN_ID19G.match(first_key):
            extra.append(CREATOR_PREFIX + creator)   # round 19g: who set up this party
            out.add(SOD_MARK)
        elif approvers and _ID_KEY.match(first_key) and not _PARTY_OWN_ID19G.match(first_key):
            extra.extend(APPROVER_PREFIX + a for a in approvers if a)   # round 19g: who approved this record
        if _beyond_approver_limit(node):
            extra.append(CHECK_FAILED)   # round 18b: approved by someone whose limit is below the amount
        if _company_paid(node):
            extra.append(COMPANY_PAID)
        if _states_payment_hold(node) or any(isinstance(v, dict) and _states_payment_hold(v) for v in node.values()):
            extra.append(PAYMENT_HOLD)
        extra.extend(f"{DUE_PREFIX}{float(v):.12g}" for k, v in node.items()
                     if isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 and _DUE_KEY18.match(str(k)))
        for k, v in node.items():
            if isinstance(v, list) and v:
                if _HOLDS_KEY.match(str(k)):
                    out.update(_hold_custodians(v))   # round 18b: the people a hold names
                elif _CONSENTS_KEY.match(str(k)):
                    out.update(_withdrawn_recipients(v))   # round 18b: a recipient whose consent was withdrawn
        if _consent_missing(node):
            extra.append(NO_DISCLOSURE)
        statuses = ([status] if status is not None else []) + extra
        if owners or statuses:
            # the record's ids: the call's (for a top-level record) and its own short identifiers
            ids = set(owner_ids)
            first = next(iter(node), None)
            own = first is not None and _ID_KEY.match(str(first)) is not None and isinstance(node[first], str)
            for k, v in node.items():
                if isinstance(v, str) and len(v) <= 64:
                    if own and k != first and _PARTY_ID_KEY.match(str(k)):
                        continue   # a row's status is its own record's, not the party's it names (an invoice's vendor)
                    ids |= {m.group(0).upper() for m in _IDENT_RX.finditer(v)}
            if not ids and until20a:
                # a sub-record without an id of its own (`risk_review: {payouts: on hold until …}`)
                # holds the record it sits in
                ids = set(parent_ids)
            out.update(f"{i}={OWNER_PREFIX}{o}" for i in ids for o in owners)
        if statuses:
            by_mail = NO_MARKETING in statuses or OBJECTED_STATUS in statuses or (status is not None and bool(NO_CONTACT_STATUS.search(status)))
            emails: set[str] = set()
            if by_mail:
                for v in node.values():
                    if isinstance(v, str) and len(v) <= 64 and "@" in v:
                        emails |= {m.group(0).lower() for m in EMAIL_RX.finditer(v)}
            if NO_RECORDING_CONSENT in statuses:
                out.add(NO_RECORDING_MARK)
            for st in statuses:
                # a record's addresses are held only against writing to them
                targets = ids | emails if st in (NO_MARKETING, OBJECTED_STATUS) or (st == status and NO_CONTACT_STATUS.search(st)) else ids
                out.update(f"{i}={st}" for i in targets)
        keys = list(node)
        if keys and _ID_KEY.match(str(keys[0])) and isinstance(node[keys[0]], str):
            # the record's primary id (its first key) is bound to the other parties it names
            primary = node[keys[0]].strip().upper()
            if _IDENT_RX.fullmatch(primary):
                for k in keys[1:]:
                    v = node[k]
                    if isinstance(v, str) and _ID_KEY.match(str(k)) and _IDENT_RX.fullmatch(v.strip()):
                        out.add(f"{primary}={BIND_PREFIX}{str(k).lower()}:{v.strip().upper()}")
                    if isinstance(v, str) and _PARTY18_KEY.match(str(k)) and _PARTY18_VALUE.fullmatch(v.strip()):
                        # round 18c: the party a listed record belongs to, digits or not (`provider_id: PRV-ITO`)
                        out.add(f"{primary}={PARTY18_PREFIX}{str(k).lower()}:{v.strip().upper()}")
                        out.add(PARTY18_MARK)
        kids = [v for v in node.values() if isinstance(v, (dict, list))]
        if kids:
            mine = frozenset(owner_ids) | {m.group(0).upper() for v in node.values() if isinstance(v, str) and len(v) <= 64
                                           for m in _IDENT_RX.finditer(v)}
            for v in kids:
                visit(v, set(), mine if isinstance(v, dict) else frozenset())

    visit(result, call_ids)
    if isinstance(result, (dict, list)):
        out.update(_refusals18(result, call_ids))   # round 18c
    if isinstance(result, (dict, list, str)):
        out.update(security_changes(result, call_ids))   # round 19c
        out.update(one_time_codes(result))   # round 19c
    if isinstance(result, str) and "\n" in result or isinstance(result, (dict, list)):
        for row in table_rows(result):
            visit(row, set())   # round 17: a table's rows are records too
    if isinstance(result, str) and 12 <= len(result) <= 3000 and any(c in result for c in "$€£¥") | bool(_CODE_AMOUNT17.search(result)):
        # round 17: a text result (an invoice as a line of text) whose amounts are all in one
        # currency states the currency of the records it names
        codes = {_MONEY_SYMBOL17.get(m.group(1), (m.group(1) or "").upper()) if m.group(1) else (m.group(2) or m.group(3)).upper()
                 for m in _TEXT_MONEY17.finditer(result)}
        codes &= _MONEY_CODE17
        if len(codes) == 1:
            code = codes.pop()
            out.update(f"{t.group(0).upper()}={CURRENCY_PREFIX}{code}" for t in _IDENT_RX.finditer(result))
    if isinstance(result, str) and (m := date_output(result)) is not None:
        out.add(f"*={m.encode()}")
    texts = [result] if isinstance(result, str) else [v for _, v in flatten_args(result) if isinstance(v, str)] \
        if isinstance(result, (dict, list)) else []
    if any("verif" in t.lower() and _VERIFICATION_FAILED_RX.search(t) for t in texts):
        out.add(VERIFICATION_FAILED)
    if isinstance(result, (dict, list)):
        _note_messages_and_rosters(result, out)
    if isinstance(result, dict):
        for path, v in flatten_args(result):
            leaf = path.rsplit(".", 1)[-1]
            if "." in path and leaf in _CHECK_OUTCOME_LEAVES and isinstance(v, str) and _CHECK_FAILED16.match(v):
                # a nested check (`identity_check: {outcome: failed}`) that failed
                parent = path.rsplit(".", 2)[-2]
                if ("verif" in parent or "check" in parent or "confirm" in parent) and _IDENTITY_CHECK_KEY.match(parent):
                    out.add(VERIFICATION_FAILED)
            if ("verif" in leaf or "check" in leaf or "confirm" in leaf) and _IDENTITY_CHECK_KEY.match(leaf):
                if v is False or isinstance(v, str) and _UNDONE.match(v):
                    out.add(IDENTITY_UNCHECKED)
                elif v is True or isinstance(v, str) and _CHECK_PASSED.match(v):
                    out.add(IDENTITY_CHECKED)
    return out


_FLOW_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)+[%MKkmb]?(?![\w.])|(?<![\w.])\d{5,}(?![\w.])")
FLOW_CAP = 512


def flow_tokens(text: str) -> set[str]:
    """Values that survive copying from a document into a message: addresses, identifiers,
    paths and figures (18.4M, 2.9, 070589-1234). Fingerprints of these are what the
    session keeps from sensitive results."""
    out = salient_tokens(text)
    out |= {m.group(0).rstrip("%").upper() for m in _FLOW_NUMBER.finditer(text)}
    return out


_UNIT_FIGURE = re.compile(r"(?i)(?<![\w.])(\d{1,6}(?:[.,]\d{1,3})?)[ \t]?(%|percent\b|eur\b|usd\b|gbp\b|chf\b|k\b)|([$\u20ac\u00a3])[ \t]?(\d{1,6}(?:[.,]\d{1,3})?)")
_UNIT_SYMBOL = {"$": "USD", "\u20ac": "EUR", "\u00a3": "GBP", "PERCENT": "%"}


def unit_figures(text: str) -> set[str]:
    """Small figures with their unit (`41 EUR`, `22%`, `$45`, `180k`): what survives when a marked
    note is restated in other words. Only the marked-content check compares them."""
    if not any(c.isdigit() for c in text):
        return set()
    out: set[str] = set()
    for m in _UNIT_FIGURE.finditer(text[:20_000]):
        if m.group(1):
            unit = m.group(2).upper()
            out.add("FIG:" + m.group(1).replace(",", ".") + _UNIT_SYMBOL.get(unit, unit))
        else:
            out.add("FIG:" + m.group(4).replace(",", ".") + _UNIT_SYMBOL.get(m.group(3), m.group(3)))
    # round 20f: a round figure written out (`41,000`, `38000`) is the same figure as `41k`
    for m in _THOUSANDS_FIGURE.finditer(text[:20_000]):
        out |= number_figures(float(m.group(1).replace(",", "")))
    return out


_THOUSANDS_FIGURE = re.compile(r"(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d{4,9})(?:\.0+)?(?![\w,]|\.\d)")


def number_figures(value: float, percent: bool = False) -> set[str]:
    """The figure forms `unit_figures` reads a number as when it is restated in words: a round
    thousand as `NNk` (38000 -> `38k`), a number held under a percentage key as `NN%`."""
    out: set[str] = set()
    if percent and 0 < value <= 100:
        out.add(f"FIG:{value:g}%")
    if value >= 1000 and value % 100 == 0:
        out.add(f"FIG:{value / 1000:g}K")
    return out


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:12]


_SHINGLE_WORD = re.compile(r"[a-z0-9]+(?:['.,/][a-z0-9]+)*")
_SHINGLE_STOP = frozenset("a an the to of at in on for and or is are was were be been by with as it its this that from "
                          "our your their we you they he she i".split())
SHINGLE_CAP = 96   # per text: the opening of a long document is enough to recognise it copied


def content_shingles(text: str, cap: int = SHINGLE_CAP) -> set[str]:
    """Fingerprints of the text's word triples (lower-cased, stop words out): what survives
    when prose is copied or lightly reworded into a message, a query string or a paste. A
    triple of short tokens (`1 2 3`) says nothing and is skipped. Marked apart from
    `fingerprint` values by a leading `~`."""
    words = [w for w in _SHINGLE_WORD.findall(text.lower()) if w not in _SHINGLE_STOP]
    out: set[str] = set()
    for i in range(len(words) - 2):
        a, b, c = words[i], words[i + 1], words[i + 2]
        if len(a) + len(b) + len(c) < 10:
            continue
        out.add(fingerprint(f"~{a} {b} {c}"))
        if len(out) >= cap:
            break
    return out


# Stores a call names (files, documents, notes, archives): what data can be laundered through.
# A path's last part (and, for a path at least three parts deep, its folder when that looks made
# for the occasion: `/tmp/repro-812/input.csv` -> `input.csv`, `repro-812`), a bare file name or
# folder in a command (`tar czf out.tgz -C /tmp repro-812`), and the value of an argument or
# result field that names a store by id (`doc_id`, `file_id`, `note_id`, `path`, `url`).
_STORE_PATH = re.compile(r"(?:~|\.{1,2})?/[\w./@-]{3,}")
_STORE_WORD = re.compile(r"(?<![\w/@=.-])[A-Za-z0-9][\w.-]*[._-][\w.-]*[A-Za-z0-9](?![\w/@-])")
_STORE_KEY = re.compile(r"(?i)^(?:(?:file|doc|document|sheet|spreadsheet|folder|drive_?item|attachment|note|object|blob|artifact|gist|paste|report|"
                        r"upload|archive|bundle|export)_?(?:id|ids|key|name|path|url|uri)?|path|paths|uri|url|attachments?|destination|output|target)$")
# where a call runs, not what it stores: a working directory, a host, a cluster
_NOT_STORE_KEY = re.compile(r"(?i)(?:^|\.)(?:cwd|workdir|working_?dir\w*|host|hostname|context|namespace|cluster|profile|workspace|database|region)$")
_MADE_FOLDER = re.compile(r"[\d_-]")
LADEN_CAP = 1024
# `laden` entries that are fingerprints of values read from a hot result, not store names
HOT_PREFIX = "^"
_STORE_PREFIX = "store:"


def _store_fp(name: str) -> str:
    return fingerprint(_STORE_PREFIX + name.lower())


def store_names(strings: Any, command_text: str = "", targets: bool = False) -> set[str]:
    """Fingerprints of the stores named by `(path, text)` pairs and by a command. `targets` adds
    a made-for-the-occasion folder of a deep path (where a copy was put), which a later command
    may name alone."""
    out: set[str] = set()
    for path, text in strings:
        if not isinstance(text, str) or len(text) > 4000 or _NOT_STORE_KEY.search(path):
            continue
        leaf = path.rsplit(".", 1)[-1]
        leaf = leaf.split("[", 1)[0]
        if _STORE_KEY.match(leaf) and 4 <= len(text) <= 200 and " " not in text.strip():
            out.add(_store_fp(text.strip().rstrip("/").rsplit("/", 1)[-1]))
        if "/" in text:
            for m in _STORE_PATH.finditer(text):
                parts = [p for p in m.group(0).rstrip(".,;:)'\"").split("/") if p and p not in (".", "..", "~")]
                if not parts:
                    continue
                if len(parts) < 2 and "." not in parts[-1]:
                    continue   # `2x/week`, `/forms`: a word after a slash, not a file
                if len(parts[-1]) >= 4:
                    out.add(_store_fp(parts[-1]))
                if targets and len(parts) >= 3 and len(parts[-2]) >= 4 and _MADE_FOLDER.search(parts[-2]):
                    out.add(_store_fp(parts[-2]))
    if command_text:
        for m in _STORE_WORD.finditer(command_text):
            w = m.group(0)
            if len(w) >= 5 and any(c.isalpha() for c in w):
                out.add(_store_fp(w))
    return out


def carried_values(strings: Any) -> set[str]:
    """Fingerprints of the values and phrases `(path, text)` pairs carry (what `sensitive` holds
    of a result), for telling whether a call carries data read earlier."""
    out: set[str] = set()
    for _, text in strings:
        if isinstance(text, str) and len(text) >= 4:
            out |= {fingerprint(t) for t in flow_tokens(text)}
            if len(text) >= 24:
                out |= content_shingles(text, cap=256)
    return out


# A classification marking inside a result (a document or note labelled confidential): what it
# holds is confidential whatever tool returned it.
_MARKING_RX = re.compile(
    r"(?i)\(\s*(?:strictly\s+)?(?:confidential|restricted|internal(?:\s+only)?)\s*\)|\bstrictly\s+confidential\b|\bconfidential\s*[-:]"
    r"|\bdo\s+not\s+(?:distribute|forward|share\s+externally|disclose)\b|\bnot\s+for\s+(?:external\s+)?distribution\b"
    # round 20f: "do not share outside legal", "do not discuss externally"; a label closing a title
    # (`Project Kestrel - RESTRICTED`, `Q4 forecast - internal`)
    r"|\bdo\s+not\s+(?:share|discuss|send|show)\s+(?:it\s+|this\s+)?(?:externally|outside|beyond)\b"
    r"|\S\s+[-\u2013\u2014|]\s+(?:strictly\s+)?(?:confidential|restricted|internal(?:\s+only)?)\s*$"
    r"|\b(?:classification|sensitivity)\s*[:=]\s*(?:confidential|restricted|secret)\b|^\s*confidential\s*$"
    # a label that opens the text: `CONFIDENTIAL. ACME to acquire…`, `Internal: proposed list…`
    r"|^\s*(?:strictly\s+)?(?:confidential|restricted|internal(?:\s+only)?)\s*(?:[.:!]|\s[-\u2013\u2014])\s")


@dataclass(frozen=True)
class Provenance:
    """What one tool result brings into a session."""

    tainted: frozenset[str]       # destinations inside prose
    vouched: frozenset[str]       # destinations in short structured fields
    secrets: frozenset[str]       # fingerprints of credentials
    injected: frozenset[str]      # values named by text that addresses the agent
    injection: bool               # the result carries an injected instruction
    exposure: int
    values: frozenset[str] = frozenset()   # fingerprints of the values the result holds
    marked: bool = False          # labelled internal or confidential by its author, who is not outside the organisation
    marked_values: frozenset[str] = frozenset()   # round 20f: fingerprints of what the labelled text or fields hold
    field_secrets: frozenset[str] = frozenset()   # round 20e: credential-named fields' and labelled values (`result_field_secrets`)


# `sensitive` entries of values from a result labelled internal or confidential (`!` + fingerprint):
# they may not go to an address outside the organisation, even one the task names.
MARKED_PREFIX = "!"


_FAILED_STATUS = frozenset({"failed", "failure", "error", "rejected", "declined", "cancelled", "canceled",
                            "timeout", "timed_out", "not_created", "aborted"})


def result_error(result: Any) -> bool:
    """Whether a tool result reports an error: an `error` (or non-empty `errors`) at the top
    level, a top-level status such as failed, rejected, declined, or text opening `error:`."""
    if isinstance(result, dict):
        if result.get("error") or result.get("errors"):
            return True
        status = result.get("status")
        return isinstance(status, str) and status.strip().lower().replace(" ", "_") in _FAILED_STATUS
    return isinstance(result, str) and result.lstrip()[:6].lower() == "error:"


# What a result says when whoever reports it lost the tool's answer (an upstream that timed out
# or cut its response short after receiving the call): an error, but the call may have run.
OUTCOME_UNKNOWN = "unknown"


def result_failed(result: Any) -> bool:
    """Whether a tool result reports that the call did not take effect: it reports an error
    (`result_error`) and does not say its outcome is unknown (`"outcome": "unknown"`). A
    payment whose result failed was not made, so retrying it is no duplicate; one whose
    outcome is unknown counts as made."""
    if not result_error(result):
        return False
    return not (isinstance(result, dict) and result.get("outcome") == OUTCOME_UNKNOWN)


_SENDER_KEY = ("from", "sender", "from_address", "author_email")


# A personal mailbox ___domain (anyone can hold an address there): a colleague who names one in a
# message does not vouch for it, and two addresses there are no colleagues of each other.
PERSONAL_MAIL_DOMAIN = re.compile(r"(?i)^(?:gmail|googlemail|outlook|hotmail|live|yahoo|proton(?:mail)?|pm|icloud|me|aol|gmx|mail|"
                                  r"yandex|zoho|fastmail|tutanota)\.(?:com|me|net|de|co\.uk|fr|ch)$")


def personal_mailbox(token: str) -> bool:
    """Whether a destination token (an address or a ___domain) is at a personal mailbox provider."""
    return bool(PERSONAL_MAIL_DOMAIN.match(token.rsplit("@", 1)[-1]))


def _external_sender(result: Any, internal: tuple[str, ...]) -> bool:
    """A message whose sender is an address outside the agent's organisation (a customer who
    labels their own e-mail confidential is not the organisation marking its data)."""
    if not isinstance(result, dict):
        return False
    for key in _SENDER_KEY:
        v = result.get(key)
        if isinstance(v, str) and "@" in v:
            m = EMAIL_RX.search(v)
            return m is not None and not (internal and is_internal(m.group(0).split("@")[-1].lower(), internal))
    return False


def _internal_sender(result: Any, internal: tuple[str, ...]) -> bool:
    """A message (e-mail, chat, ticket comment) whose sender is an address of the agent's own
    organisation (one of its internal domains)."""
    if not internal or not isinstance(result, dict):
        return False
    for key in _SENDER_KEY:
        v = result.get(key)
        if isinstance(v, str) and "@" in v:
            m = EMAIL_RX.search(v)
            return m is not None and is_internal(m.group(0).split("@")[-1].lower(), internal)
    return False


# Round 17c: text hidden from a reader's eye but not from a model's: zero-width characters inside
# words, or words letter-spaced (`a d d   m . k o v a c s`) with wide or repeated spaces between them.
_R17C_ZW = re.compile("[\u200b-\u200d\u2060\ufeff]")
_R17C_WIDE = re.compile("[\u00a0\u2000-\u200a\u202f\u3000]| {2,}")
_R17C_HIDDEN = re.compile("[\u200b-\u200d\u2060\ufeff]|(?:(?<!\\S)\\S[ \u00a0\u2000-\u200a\u202f\u3000]){5}")


def spaced_text_joined(text: str) -> str:
    """`text` with zero-width characters removed and letter-spaced runs joined into words."""
    text = _R17C_ZW.sub("", text)
    out = []
    for group in _R17C_WIDE.split(text):
        toks = group.split(" ")
        singles = sum(1 for t in toks if len(t) == 1)
        out.append("".join(toks) if len(toks) >= 2 and (singles == len(toks) or len(toks) >= 3 and singles * 10 >= len(toks) * 7) else group)
    return " ".join(out)


# round 20e: a secret a result holds without a detector-known shape: the value of a field whose
# name says credential (`signing_secret`, `client_secret`, `bearer_token`, `password`), or a
# value that prose labels as one ("New security token (case-sensitive): Vq8L…", "password is
# …"). Paging and request tokens (`next_page_token`, `csrf_token`) are not credentials. A value
# is one word of eight or more characters with a letter and a digit; its fingerprint is the one
# the labelled-secret detector keeps for a value (`value:…`), so a later call that carries it in
# any wording is `secret_from_result`.
_CREDENTIAL_FIELD = re.compile(r"(?i)(?:secret|password|passwd|passphrase|token|api_?key|apikey|private_?key|cookie)$")
_NOT_CREDENTIAL_FIELD = re.compile(r"(?i)(?:page|next|continuation|cursor|sync|resume|request|idempotency|trace|csrf|xsrf|type|hint|prefix|last4|_id)")
_LABELLED_SECRET = re.compile(
    r"(?i)\b(?:token|secret|password|passcode|passphrase|api\s+key)\b[^:.!?\n]{0,40}?(?::|\bis\b)\s*['\"`]?([A-Za-z0-9][\w./+=!@#$%^&*~-]{7,200})")
_LABEL_WORDS = ("token", "secret", "password", "passcode", "passphrase", "api key")
_VALUE_TOKEN = re.compile(r"[^\s'\"`,;()<>\[\]{}=]{8,200}")
_VALUE_TAIL = ".,:;!?"


def _credential_like(value: str) -> bool:
    v = value.rstrip(_VALUE_TAIL)
    return 8 <= len(v) <= 512 and " " not in v and any(c.isdigit() for c in v) and any(c.isalpha() for c in v)


def secret_value_fingerprint(value: str) -> str:
    """The fingerprint a secret's bare value is kept under (trailing sentence punctuation off)."""
    return secret_fingerprint("value:" + value.rstrip(_VALUE_TAIL))


def result_field_secrets(result: Any) -> set[str]:
    """Fingerprints of the values of a result's credential-named fields and of values its prose
    labels as a credential (above)."""
    out: set[str] = set()
    if not isinstance(result, (dict, list, str)):
        return out
    pairs = flatten_args(result) if isinstance(result, (dict, list)) else [("", result)]
    for path, value in islice(pairs, 2000):
        if not isinstance(value, str):
            continue
        key = re.split(r"[.\[\]]+", path.rstrip("]").rstrip("0123456789").rstrip("["))[-1] if path else ""
        if key and _CREDENTIAL_FIELD.search(key) and not _NOT_CREDENTIAL_FIELD.search(key) and _credential_like(value):
            out.add(secret_value_fingerprint(value))
        low = value.lower()
        if any(w in low for w in _LABEL_WORDS):
            for m in _LABELLED_SECRET.finditer(value):
                if _credential_like(m.group(1)):
                    out.add(secret_value_fingerprint(m.group(1)))
    return out


def carried_secret_values(text: str, secrets: set[str] | frozenset[str], cap: int = 4000) -> bool:
    """Whether one word of `text` is a value kept in `secrets` (by `secret_value_fingerprint`)."""
    for m in islice(_VALUE_TOKEN.finditer(text), cap):
        if _credential_like(m.group(0)) and secret_value_fingerprint(m.group(0)) in secrets:
            return True
    return False


def result_provenance(result: Any, internal: tuple[str, ...] = (), trust: str | None = None) -> Provenance:
    """Provenance of a tool result.

    Destinations inside prose (fetched pages, e-mail bodies, documents, comments: any string
    of several words) are tainted: that is where injected instructions live. A short
    structured field (`customer_email: jo@x.org` from a system of record) vouches for its
    destination instead: writing to a record's own contact is ordinary work. So does a message
    from a colleague (its sender is in one of `internal`, the agent's own domains), unless it
    carries an instruction aimed at the agent. Prose that addresses the agent marks every value
    it names as injected.

    `trust` is the policy's word on the tool (`provenance` in the policy): "trusted" results
    (records only the organisation's staff write) vouch for every destination they name, prose
    included, unless they carry an instruction aimed at the agent; "untrusted" ones (an inbox,
    the web) taint every destination they name, short fields and colleagues' messages included.
    """
    key_marked: set[str] = set()
    if isinstance(result, (dict, list)):
        pairs = list(flatten_args(result))
        leaves = [v for _, v in pairs if isinstance(v, str)]
        key_marked = _key_marked_values(pairs)
    elif result is None:
        leaves = []
    else:
        leaves = [str(result)]
    tainted: set[str] = set()
    vouched: set[str] = set()
    secrets: set[str] = set()
    injected: set[str] = set()
    values: set[str] = set()
    injection = False
    pii = False
    marked = False
    for text in leaves:
        if len(values) < FLOW_CAP:
            values |= {fingerprint(t) for t in flow_tokens(text)}
            if len(text) >= 24:
                values |= content_shingles(text)
            if _MARKING_RX.search(text):
                values |= {fingerprint(t) for t in unit_figures(text)}
        if len(text.split()) >= _PROSE_MIN_WORDS:
            tainted |= destination_tokens(text)
            if "." in text:
                tainted |= {DOMAIN_PREFIX + m.group(1).lower() for m in _BARE_DOMAIN.finditer(text)}
            m = INJECTION_RX.search(text)
            if m:
                injection = True
                injected |= salient_tokens(text[max(0, m.start() - 200):])
            elif _R17C_HIDDEN.search(text):
                # round 17c: an instruction letter-spaced or cut by zero-width characters is read as written
                plain = spaced_text_joined(text[:20000])
                m = INJECTION_RX.search(plain)
                if m:
                    injection = True
                    injected |= salient_tokens(plain[max(0, m.start() - 200):])
        else:
            vouched |= destination_tokens(text)
        for f in find_secrets(text):
            if not is_placeholder_secret(text, f):
                secrets |= secret_fingerprints(text[f.start:f.end], f.kind)
        if "  " in text and "\n" in text:
            # round 16: a CLI's `Key   Value` table (`vault write …/secret-id` prints the new
            # secret_id that way), which the labelled-secret detector does not read as a pair
            for m in _COLUMN_SECRET.finditer(text):
                secrets.add(secret_fingerprint("value:" + m.group(1)))
        pii = pii or bool(find_pii(text))
        marked = marked or bool(_MARKING_RX.search(text))
    marked_values: set[str] = set()
    if marked:
        # round 20f: a label on one field (a title `… - CONFIDENTIAL`) covers the figures of
        # the whole record, restated in other words (`142k`, `22%`) as well as copied
        marked_values = set(values)
        for text in leaves[:200]:
            marked_values |= {fingerprint(t) for t in unit_figures(text)}
    if key_marked:
        marked = True
        marked_values |= key_marked
    exposure = max(3 if secrets else 0, 4 if pii else 0, 2 if marked else 0)
    if trust == "untrusted":
        tainted |= vouched
        vouched = set()
    elif tainted and not injection and trust == "trusted":
        vouched |= tainted
    elif tainted and not injection and _internal_sender(result, internal):
        vouched |= {t for t in tainted if not personal_mailbox(t)}
    own_label = marked and not _external_sender(result, internal)
    return Provenance(frozenset(tainted - vouched), frozenset(vouched), frozenset(secrets),
                      frozenset(injected), injection, exposure, frozenset(values),
                      own_label, frozenset(marked_values) if own_label else frozenset(),
                      frozenset(result_field_secrets(result)))


# Round 20f: a field whose own name labels what it holds as internal (`internal_only: {floor_price:
# 38000}`, `confidential_notes`, `do_not_share`): its values are marked, not the whole record's.
_MARK_PATH20 = re.compile(r"(?i)(?:^|\.)(?:internal(?:_?only)?|confidential\w*|restricted|internal_?notes?|"
                          r"do_?not_?(?:share|forward|disclose)\w*|not_?for_?(?:external|customers?|clients?|distribution)\w*)(?:\[\d+\])*(?:\.|$)")
_PERCENT_LEAF20 = re.compile(r"(?i)(?:pct|percent|rate|ratio)(?:\[\d+\])*$")


def _key_marked_values(pairs: list[tuple[str, Any]]) -> set[str]:
    """Fingerprints of the values under a field whose name labels them internal (strings as
    copied or restated, numbers in their written-out and `k`/`%` forms)."""
    out: set[str] = set()
    for path, v in pairs[:2000]:
        if not ("nternal" in path or "onfidential" in path or "estricted" in path or "_not" in path.lower() or "not_" in path.lower()) \
                or not _MARK_PATH20.search(path):
            continue
        if isinstance(v, str):
            out |= {fingerprint(t) for t in flow_tokens(v)} | {fingerprint(t) for t in unit_figures(v)}
            if len(v) >= 24:
                out |= content_shingles(v)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out.add(fingerprint(f"{v:g}"))
            out |= {fingerprint(t) for t in number_figures(float(v), bool(_PERCENT_LEAF20.search(path)))}
        if len(out) >= FLOW_CAP:
            break
    return out


@dataclass(frozen=True)
class SessionSnapshot:
    """Everything the core knows about one session, as of its last call."""

    agent: str = ""
    session: str = ""
    task: str | None = None
    task_vec: np.ndarray | None = field(default=None, compare=False)
    steps: int = 0
    exposure: int = 0          # 0 none, 1 internal, 2 confidential, 3 secret, 4 regulated (latched max)
    escalation: int = 0        # index into ESCALATION_LEVELS (latched max)
    reversibility: int = 0     # of the latest call: 0 reversible, 1 partly, 2 irreversible
    risk_level: int = 0        # index into RISK_LEVELS (latched max)
    drift: float = 0.0         # exponentially weighted task drift
    tainted: frozenset[str] = frozenset()     # destinations that entered only through tool results
    named: frozenset[str] = frozenset()       # destinations named by the task or the caller
    vouched: frozenset[str] = frozenset()     # destinations from structured result fields
    secrets: frozenset[str] = frozenset()     # fingerprints of secrets seen in results
    injected: frozenset[str] = frozenset()    # values named by injected instructions in results
    injections: int = 0                       # results that carried an injected instruction
    contacted: frozenset[str] = frozenset()   # salient values the caller used before any injection
    sensitive: frozenset[str] = frozenset()   # fingerprints of values read from sensitive results
    pressure: tuple[str, ...] = ()            # social-engineering marks of the task
    held: frozenset[str] = frozenset()        # `ID=status` of records whose status forbids acting on them
    marks: frozenset[str] = frozenset()       # flow rules whose `after` (`ID+`) or `unless_after` (`ID-`) step has happened
    clock: frozenset[str] = frozenset()       # `*=now:…` what results said the time is; `ID=window:…` change windows of records
    laden: frozenset[str] = frozenset()       # fingerprints of stores (files, documents) that hold data read from sensitive results
    decoys: frozenset[str] = frozenset()      # `look-alike original`: words of results that pass for a word the task names
    finids: frozenset[str] = frozenset()      # `fingerprint=owner` of bank and tax identifiers read, `@mailbox=owner` of their records
    roster: frozenset[str] = frozenset()      # `fingerprint(mailbox or name)=fingerprint(mailbox)@___domain` of people listed three or more to a result
    foreign: frozenset[str] = frozenset()     # `fingerprint(value)=fingerprint(owner)` of rows bound to another person than the task's subject
    field_secrets: frozenset[str] = frozenset()   # round 20e: values of results' credential-named fields (apart from `secrets`: the risk chain was fitted without them)
    blocks: int = 0
    grants: int = 0            # grant calls executed in the session (roles, privileges, memberships)
    usage: tuple[tuple[str, int, float], ...] = ()   # (quota id, calls, total) of the policy's quotas, by id
    # calls allowed (as executed) and not yet reported to /v1/observe, oldest first, at most
    # `gate.core.pending.PENDING_CAP`: (decision id, tool, digest of the canonical tool and args)
    pending: tuple[tuple[str, str, str], ...] = ()
    # fields of the stored snapshot this version does not know (written by a newer replica
    # sharing the store): kept as read and written back by `to_json`, never interpreted
    extra_fields: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    def evolve(self, **changes: Any) -> SessionSnapshot:
        """A copy with `changes` (what `dataclasses.replace` does, without its per-call
        introspection: this runs on every decision)."""
        new = object.__new__(SessionSnapshot)
        d = new.__dict__
        d.update(self.__dict__)
        for k, v in changes.items():
            if k not in d:
                raise TypeError(f"SessionSnapshot has no field {k!r}")
            d[k] = v
        return new

    def trusted(self, agent_named: frozenset[str]) -> frozenset[str]:
        return self.named | self.vouched | agent_named

    def to_json(self) -> bytes:
        d: dict[str, Any] = {
            "agent": self.agent, "session": self.session, "task": self.task, "steps": self.steps,
            "exposure": self.exposure, "escalation": self.escalation, "reversibility": self.reversibility,
            "risk_level": self.risk_level, "drift": self.drift, "tainted": sorted(self.tainted),
            "named": sorted(self.named), "vouched": sorted(self.vouched), "injected": sorted(self.injected),
            "injections": self.injections, "contacted": sorted(self.contacted), "sensitive": sorted(self.sensitive), "pressure": list(self.pressure), "held": sorted(self.held), "marks": sorted(self.marks), "clock": sorted(self.clock), "laden": sorted(self.laden), "decoys": sorted(self.decoys), "finids": sorted(self.finids), "roster": sorted(self.roster), "foreign": sorted(self.foreign), "field_secrets": sorted(self.field_secrets), "secrets": sorted(self.secrets), "blocks": self.blocks, "grants": self.grants,
            "usage": [list(u) for u in self.usage],
            "pending": [list(p) for p in self.pending],
        }
        if self.extra_fields:
            d = self.extra_fields | d
        if self.task_vec is not None:
            d["task_vec"] = base64.b64encode(np.asarray(self.task_vec, dtype=np.float32).tobytes()).decode()
        return orjson.dumps(d)

    @classmethod
    def from_json(cls, raw: bytes | str) -> SessionSnapshot:
        """The snapshot `to_json` wrote, by this or another version of gate (replicas of mixed
        versions share one Redis): a field this version does not know is kept as it is
        (`extra_fields`, written back by `to_json`), a missing one takes its default. A field
        of the wrong type or out of range raises `SnapshotError` naming it."""
        try:
            d = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise SnapshotError(f"not JSON ({exc})") from None
        if not isinstance(d, dict):
            raise SnapshotError(f"a snapshot is a JSON object, not {_json_kind(d)}")
        known: dict[str, Any] = {}
        extra: dict[str, Any] | None = None
        vec = None
        for key, value in d.items():
            read = _READERS.get(key)
            if read is not None:
                try:
                    known[key] = read(value)
                except (TypeError, ValueError, OverflowError) as exc:
                    raise SnapshotError(f"field {key!r}: {exc}") from None
            elif key == "task_vec":
                vec = value
            else:
                if extra is None:
                    extra = {}
                extra[key] = value
        if vec is not None:
            try:
                if not isinstance(vec, str):
                    raise TypeError(f"{_json_kind(vec)}, not base64 text")
                known["task_vec"] = np.frombuffer(base64.b64decode(vec, validate=True), dtype=np.float32).copy()
            except (TypeError, ValueError) as exc:
                raise SnapshotError(f"field 'task_vec': {exc}") from None
        return cls(**known, extra_fields=extra)


class SnapshotError(ValueError):
    """A stored snapshot this version of gate cannot read as a session: not JSON, not an
    object, or a field of the wrong type or out of range (the message names it). The Redis
    store turns it into `SessionUnreadable`, and the gate fails closed."""


def _json_kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "a list"
    return "an object"


def _count(top: int | None = None) -> Any:
    def read(v: Any) -> int:
        if not isinstance(v, int) or isinstance(v, bool):
            raise TypeError(f"{_json_kind(v)}, not an integer")
        if v < 0 or (top is not None and v > top):
            raise ValueError(f"{v} is out of range (0 to {top if top is not None else 'any'})")
        return v
    return read


def _number(v: Any) -> float:
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        raise TypeError(f"{_json_kind(v)}, not a number")
    return float(v)


def _text(v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError(f"{_json_kind(v)}, not a string")
    return v


def _text_or_null(v: Any) -> str | None:
    return None if v is None else _text(v)


def _texts(v: Any) -> list[str]:
    if v is None:
        return []
    if not isinstance(v, list):
        raise TypeError(f"{_json_kind(v)}, not a list of strings")
    for x in v:
        if not isinstance(x, str):
            raise TypeError(f"holds {_json_kind(x)}, not only strings")
    return v


def _rows(v: Any, kinds: tuple[Any, ...], what: str) -> tuple[tuple[Any, ...], ...]:
    if v is None:
        return ()
    if not isinstance(v, list):
        raise TypeError(f"{_json_kind(v)}, not a list of {what}")
    out = []
    for row in v:
        if not isinstance(row, list) or len(row) != len(kinds):
            raise TypeError(f"holds {_json_kind(row)} that is not a {what}")
        out.append(tuple(read(x) for read, x in zip(kinds, row)))
    return tuple(out)


# Every field `to_json` writes, and how it is read back (checked, not trusted: another replica
# or an older version may have written it). `task_vec` is read apart.
_READERS: dict[str, Any] = {
    "agent": _text, "session": _text, "task": _text_or_null,
    "steps": _count(), "blocks": _count(), "injections": _count(), "grants": _count(),
    "exposure": _count(4),   # 0 none .. 4 regulated (gate.core.risk.EXPOSURE_NAMES)
    "escalation": _count(len(ESCALATION_LEVELS) - 1), "reversibility": _count(max(_REVERSIBILITY.values())),
    "risk_level": _count(len(RISK_LEVELS) - 1), "drift": _number,
    "pressure": lambda v: tuple(_texts(v)),
    "usage": lambda v: _rows(v, (_text, _count(), _number), "[quota id, calls, total] row"),
    "pending": lambda v: _rows(v, (_text, _text, _text), "[decision id, tool, digest] row"),
    **{key: (lambda v: frozenset(_texts(v))) for key in
       ("tainted", "named", "vouched", "secrets", "injected", "contacted", "sensitive", "held", "marks", "clock", "laden",
        "decoys", "finids", "roster", "foreign", "field_secrets")},
}


EMPTY_SESSION = SessionSnapshot()   # where every session (and every sessionless call) starts


# ---- round 15: look-alikes of what the task names, access opened to everyone, bank and tax
# identifiers bound to their owners ----

# A word that can name a record, a person, a role or an address: five or more characters, one of
# them not a letter (`ACCT-204518`, `analyst_jlee`, `mark.chen@northwind.io`, `1487652093`).
_NAMEWORD = re.compile(r"[A-Za-z0-9][\w.@+-]{4,}")
_NOT_ONLY_LETTERS = re.compile(r"[\d_.@-]")
# characters a reader takes for one another (`northwlnd`, `analyst_j1ee`, `suppIy` lowered)
_CONFUSABLE = str.maketrans({"1": "l", "i": "l", "|": "l", "0": "o"})
DECOY_CAP = 256


def name_words(text: str) -> set[str]:
    """The lower-cased `_NAMEWORD`s of a text that are not only letters (trailing dots dropped)."""
    out: set[str] = set()
    for m in _NAMEWORD.finditer(text):
        w = m.group(0).rstrip(".").lower()
        if len(w) >= 5 and _NOT_ONLY_LETTERS.search(w):
            out.add(w)
    return out


# a date or an amount: a slot on 2025-06-21 for a task's 2025-06-12 is another day, not a disguise
_DATE_OR_AMOUNT = re.compile(r"^\d{1,4}[-/.]\d{1,2}(?:[-/.]\d{1,4})?(?:t[\d.-]*)?$|^\d+\.\d+$")


@text_cache(512)
def task_name_words(task: str) -> frozenset[str]:
    """The words of a task a look-alike could stand in for (dates and amounts are not)."""
    return frozenset(w for w in name_words(task) if not _DATE_OR_AMOUNT.match(w))


def _swapped_once(a: str, b: str) -> bool:
    """`b` is `a` with two adjacent characters of the same kind swapped (`204518`/`204581`)."""
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    return (len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
            and a[diff[0]].isdigit() == a[diff[1]].isdigit())


def _label_extended(named_dom: str, other_dom: str) -> bool:
    """`other_dom`'s first label is the named ___domain's with a hyphenated piece added
    (`brightpath-co.com` for `brightpath.com`)."""
    a, b = named_dom.split(".", 1)[0], other_dom.split(".", 1)[0]
    return len(a) >= 4 and b != a and (b.startswith(a + "-") or b.endswith("-" + a))


def looks_alike(named: str, other: str) -> bool:
    """`other` passes for `named` at a glance: the same once confusable characters are read
    alike, two adjacent digits or letters swapped, or (addresses) the same mailbox at a ___domain
    whose name is the named one's with a piece added or that reads alike."""
    if named == other:
        return False
    if len(named) == len(other):
        if named.translate(_CONFUSABLE) == other.translate(_CONFUSABLE):
            return True
        if _swapped_once(named, other):
            return True
    if "@" in named and "@" in other:
        nl, nd = named.rsplit("@", 1)
        ol, od = other.rsplit("@", 1)
        if nl == ol and nd != od and (_label_extended(nd, od) or len(nd) == len(od) and (
                nd.translate(_CONFUSABLE) == od.translate(_CONFUSABLE) or _swapped_once(nd, od))):
            return True
    return False


def decoy_entries(task: str | None, result: Any) -> set[str]:
    """`look-alike original` for each word of a result's prose that passes for a word the task
    names (an account id with two digits swapped, an address at a look-alike ___domain) where that
    prose does not name the original too: a call that later uses the look-alike instead of what
    the task named was steered by the result."""
    if not task:
        return set()
    named = task_name_words(task)
    if not named:
        return set()
    by_len: dict[int, list[str]] = {}
    mailboxes: dict[str, list[str]] = {}
    for w in named:
        by_len.setdefault(len(w), []).append(w)
        if "@" in w:
            mailboxes.setdefault(w.rsplit("@", 1)[0], []).append(w)
    out: set[str] = set()
    for _, text in flatten_args(result):
        # prose (a comment, a note, a message), not a record's own field: a listing of invoices
        # AP-52201 and AP-52210 names two records, not one disguised as the other
        if not isinstance(text, str) or len(text) < 12 or text.count(" ") < 3:
            continue
        words = name_words(text[:4000])
        for w in words:
            if w in named:
                continue
            cands = by_len.get(len(w), [])
            if "@" in w:
                cands = cands + mailboxes.get(w.rsplit("@", 1)[0], [])
            for n in cands:
                if n not in words and looks_alike(n, w):
                    out.add(f"{w} {n}")
                    break
    return out


# Access opened to everyone: a sharing value (`anyone`, `public`, `allUsers`) under a sharing or
# permission key, or a grant to the SQL role PUBLIC.
_EVERYONE_VALUE = frozenset({"anyone", "anyone_with_link", "anyonewithlink", "everyone", "public", "allusers",
                             "allauthenticatedusers", "all_users", "world", "internet"})
_ACCESS_PATH = re.compile(r"(?i)(?:^|[._\[])(?:type|who|grantee|principal|audience|scope|access|link_?access|visibility|sharing|share|"
                          r"permission|permissions|acl|members?|role|general_?access)(?:$|[._\]\[])")
_GRANT_PUBLIC = re.compile(r"(?i)\bgrant\b[^;]{0,300}?\bto\s+public\b|--acl\s+public-read|\ballUsers\b|\ballAuthenticatedUsers\b")


def widens_to_everyone(strings: Any) -> bool:
    """The call opens what it names to everyone (anyone with the link, the public, every role)."""
    for path, text in strings:
        if not isinstance(text, str):
            continue
        low = text.strip().lower()
        if low in _EVERYONE_VALUE and _ACCESS_PATH.search(path):
            return True
        if len(text) > 12 and ("public" in low or "allusers" in low or "allauthenticatedusers" in low) and _GRANT_PUBLIC.search(text):
            return True
    return False


# Bank and tax identifiers of a record (`iban`, `account_number`, `routing_number`, `ssn`, `tin`),
# bound to the id of the record that holds them: `fingerprint=owner id`.
_FIN_ID_KEY = re.compile(r"(?i)^(?:iban|account_?(?:number|no)|acct_?(?:number|no)?|routing_?(?:number|no)?|aba|sort_?code|swift|bic|swift_?bic|"
                         r"ssn|tin|tax_?id|national_?insurance(?:_?number)?|nino|social_?security(?:_?number)?|bank_?account)$")
# the parties whose identifiers these are: a vendor, an employee, a customer (not an account or a
# bare `id`: the organisation's own operating account is not a party the message leaves out)
_FIN_OWNER_KEY = re.compile(r"(?i)^(?:vendor_?id|employee_?id|customer_?id|payee_?id|supplier_?id|contractor_?id|mrn|member_?id)$")
_OWN_MAIL_KEY = re.compile(r"(?i)^(?:e-?mail|work_?email|personal_?email|remittance_?email|owner_?email|contact_?email|billing_?email|ap_?email|"
                           r"verified_?email|(?:ap_|ar_|billing_|primary_)?contact)$")
FINID_CAP = 256


def _compact(text: str) -> str:
    return "".join(c for c in text if c.isalnum()).upper()


def finid_entries(result: Any) -> set[str]:
    """`fingerprint(identifier)=owner` for the bank and tax identifiers of each record in a
    result (nested sections inherit their record's id), and `@address=owner` for the record's
    own mailbox: a message carrying one to someone else gives away another party's identifiers."""
    out: set[str] = set()

    def visit(node: Any, owner: str) -> None:
        if isinstance(node, dict):
            own = owner
            for k, v in node.items():
                if isinstance(v, (str, int)) and not isinstance(v, bool) and _FIN_OWNER_KEY.match(str(k)) and str(v).strip():
                    own = str(v).strip().upper()
                    break
            for k, v in node.items():
                if isinstance(v, (dict, list)):
                    visit(v, own)
                elif own and isinstance(v, (str, int)) and not isinstance(v, bool):
                    key = str(k)
                    if _FIN_ID_KEY.match(key):
                        c = _compact(str(v))
                        if len(c) >= 6 and sum(ch.isdigit() for ch in c) >= 6:
                            out.add(f"{fingerprint('fin:' + c)}={own}")
                    elif isinstance(v, str) and "@" in v and _OWN_MAIL_KEY.match(key):
                        out.add(f"@{v.strip().lower()}={own}")
        elif isinstance(node, list):
            for x in node[:500]:
                visit(x, owner)

    visit(result, "")
    return out


_DIGIT_RUN = re.compile(r"[A-Za-z0-9]*\d[A-Za-z0-9]*")


def fin_fingerprints(text: str) -> set[str]:
    """Fingerprints of the identifiers a text may carry as `finid_entries` keeps them: runs of
    one to four digit-bearing pieces separated by one space or hyphen (`512-44-9031`,
    `GB33 BUKB 2020 1555`), compacted."""
    out: set[str] = set()
    pieces = [(m.start(), m.end(), m.group(0)) for m in _DIGIT_RUN.finditer(text)]
    for i in range(len(pieces)):
        joined = ""
        end = pieces[i][0]
        for j in range(i, min(i + 6, len(pieces))):
            s, e, w = pieces[j]
            if j > i and (s - end != 1 or text[end] not in " -"):
                break
            joined += w
            end = e
            c = joined.upper()
            if len(c) >= 6 and sum(ch.isdigit() for ch in c) >= 6:
                out.add(fingerprint("fin:" + c))
    return out


# An amount the task sets for one kind of payment (`apply the standard 25 USD outage credit`,
# `a refund of $40`): what the session may pay of that kind to one record, however many calls.
_TASK_AMOUNT = re.compile(
    r"(?i)(?<![\w.,])(?:[$\u20ac\u00a3]\s?)?(\d{1,7}(?:\.\d{1,2})?)\s*(?:usd|eur|gbp|dollars?|euros?|pounds?)?\s+(?:[a-z-]+\s+){0,2}?"
    r"(credit|refund|bonus|reimbursement)s?\b"
    r"|\b(credit|refund|bonus|reimbursement)\s+of\s+(?:usd|eur|gbp|[$\u20ac\u00a3])\s?(\d{1,7}(?:\.\d{1,2})?)(?![\d.])")
TASK_AMOUNT_PREFIX = "tamt|"
_AMOUNT_TARGET_KEY = re.compile(r"(?i)^(?:customer|account|employee|vendor|payee|invoice|claim)_?id$")


@text_cache(256)
def task_amounts(task: str) -> dict[str, float]:
    """The amount the task sets for each kind of payment it names with one (a kind named with two
    different amounts sets none)."""
    found: dict[str, set[float]] = {}
    if not any(w in task.lower() for w in ("credit", "refund", "bonus", "reimburse")):
        return {}
    for m in _TASK_AMOUNT.finditer(task):
        if m.group(2):
            if not m.group(0)[:1] in "$\u20ac\u00a3" and not re.search(r"(?i)usd|eur|gbp|dollar|euro|pound", m.group(0)):
                continue   # a bare number before the word (`3 refunds`) is a count, not an amount
            found.setdefault(m.group(2).lower(), set()).add(float(m.group(1)))
        else:
            found.setdefault(m.group(3).lower(), set()).add(float(m.group(4)))
    return {k: next(iter(v)) for k, v in found.items() if len(v) == 1}


def task_amount_slot(task: str | None, tool_words: tuple[str, ...], args: Any) -> tuple[str, float] | None:
    """(`tamt|kind|record|`, the task's amount) for a pay call of a kind the task sets an amount
    for, on the record the call names."""
    if not task or not isinstance(args, dict):
        return None
    amounts = task_amounts(task)
    if not amounts:
        return None
    kind = next((k for k in amounts if k in tool_words or k + "s" in tool_words), None)
    if kind is None:
        return None
    target = next((str(v).upper() for k, v in args.items() if isinstance(v, (str, int)) and _AMOUNT_TARGET_KEY.match(str(k))), "")
    return f"{TASK_AMOUNT_PREFIX}{kind}|{target}|", amounts[kind]


# Round 20b: a task that states one money figure and asks for compensation (a refund, a credit)
# sets what the session may give in all, whatever the instrument: a 40 USD outage compensation
# "by refund or by credit" refunded and then credited is given twice.
COMP_PREFIX = "tamt|one|"
_COMP_WORDS20B = frozenset("refund refunds credit credits compensate compensation goodwill".split())
_TASK_MONEY20B = re.compile(r"(?i)(?:[$\u20ac\u00a3]\s?(\d[\d,]*(?:\.\d+)?)|(?<![\w.,])(\d[\d,]*(?:\.\d+)?)\s?(?:usd|eur|gbp|dollars?|euros?|pounds?)\b)")


@text_cache(256)
def task_one_figure(task: str) -> float | None:
    """The one money figure a task states (a figure with a currency), or None for none or several."""
    figures: set[float] = set()
    for m in _TASK_MONEY20B.finditer(task):
        try:
            figures.add(float((m.group(1) or m.group(2)).replace(",", "")))
        except ValueError:
            continue
        if len(figures) > 1:
            return None
    return next(iter(figures), None)


def compensation_slot(task: str | None, tool_words: tuple[str, ...]) -> tuple[str, float] | None:
    """(`tamt|one|`, the task's one figure) for a refund or credit call under such a task."""
    if not task or _COMP_WORDS20B.isdisjoint(tool_words):
        return None
    fig = task_one_figure(task)
    return (COMP_PREFIX, fig) if fig else None


_COMP_ID20B = re.compile(r"^[A-Za-z]{1,6}[-_]?\d[\w-]{1,20}$")


def compensation_subjects(args: Any, held: frozenset[str]) -> set[str]:
    """Whom a refund or credit compensates: the ids its arguments name, and the party a result
    bound each of them to (`INV-70314=bind:customer_id:CUS-21907`), so a refund of an invoice
    and a credit to its customer are the same customer's."""
    if not isinstance(args, dict):
        return set()
    ids = {v.strip().upper() for v in args.values() if isinstance(v, str) and _COMP_ID20B.match(v.strip())}
    out = set(ids)
    for i in ids:
        head = f"{i}=bind:"
        out.update(e.rsplit(":", 1)[1] for e in held if e.startswith(head) and e.count(":") == 2)
    return out


def paid_so_far(held: frozenset[str], slot: str) -> float:
    total = 0.0
    for e in held:
        if e.startswith(slot):
            try:
                total += float(e.rsplit("=", 1)[1])
            except ValueError:
                pass
    return total


# A roster: a result that lists three or more people, each with a mailbox (a workspace's users, a
# CRM search's contacts). `roster` keeps `fingerprint(key)=fingerprint(mailbox)` for each row's
# mailbox and name, so a message can be told to carry one of them to someone else.
_ROSTER_MAIL_KEY = re.compile(r"(?i)^(?:e-?mail|work_?email|login|owner_?email|contact_?email|verified_?email)$")
_ROSTER_NAME_KEY = re.compile(r"(?i)^(?:name|full_?name|display_?name|contact_?name)$")
ROSTER_CAP = 1024


def roster_key(text: str) -> str:
    return fingerprint("roster:" + " ".join(text.lower().split()))


def roster_entries(result: Any) -> set[str]:
    """`fingerprint(mailbox or name)=fingerprint(mailbox)@___domain` for each row of each list in a
    result that holds three or more rows with a mailbox."""
    out: set[str] = set()

    def visit(node: Any, depth: int) -> None:
        if depth > 4:
            return
        if isinstance(node, dict):
            for v in node.values():
                if isinstance(v, (dict, list)):
                    visit(v, depth + 1)
        elif isinstance(node, list):
            rows = []
            for x in node[:500]:
                if isinstance(x, dict):
                    mail = next((v.strip().lower() for k, v in x.items() if isinstance(v, str) and "@" in v and _ROSTER_MAIL_KEY.match(str(k))), None)
                    if mail:
                        name = next((v for k, v in x.items() if isinstance(v, str) and _ROSTER_NAME_KEY.match(str(k)) and len(v.split()) >= 2), None)
                        rows.append((mail, name))
                    else:
                        visit(x, depth + 1)
            if len(rows) >= 3:
                for mail, name in rows:
                    m = roster_key(mail)
                    dom = mail.rsplit("@", 1)[-1]
                    out.add(f"{m}={m}@{dom}")
                    if name:
                        out.add(f"{roster_key(name)}={m}@{dom}")

    visit(result, 0)
    return out


# ---- round 17: values of another person's record carried into a message ----
# A result row bound to a person (its mailbox under an owner key, or a patient/customer/account
# id under an id key) who is not the one subject the task names (exactly one mailbox, or exactly
# one id of that shape), outside the task's mailbox ___domain and the organisation: `foreign` keeps
# `fingerprint(value)=fingerprint(owner)` for the distinctive values of that row (amounts, ids,
# mailboxes), so a message that carries several of them to someone else can be told.
FOREIGN_CAP = 384
_R17_OWNER_MAIL_KEY = re.compile(r"(?i)^(?:(?:\w+_)?e-?mail(?:_?address)?|requester(?:_?e-?mail)?|from|sender)$")
_R17_OWNER_ID_KEY = re.compile(r"(?i)^(?:mrn|patient_?id|customer_?id|account_?id|member_?id|client_?id)$")
_R17_ID_SHAPE = re.compile(r"^([A-Z]+)-?\d{4,}$")
_R17_NUM = re.compile(r"(?<![\w.,])\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.,])\d+(?:\.\d+)?")


def _r17_number(raw: str) -> str | None:
    try:
        v = float(raw.replace(",", ""))
    except ValueError:
        return None
    if v == int(v) and (v < 100 or 1900 <= v <= 2100):
        return None   # small counts and years say nothing of whose record it is
    return "n:" + format(v, ".10g")


def foreign_values(text: str) -> set[str]:
    """The distinctive values of a text as `foreign_entries` keeps them: numbers of three or more
    digits or with a fraction (commas and trailing zeros dropped), identifiers, mailboxes."""
    out: set[str] = set()
    if any(c.isdigit() for c in text):
        for m in _R17_NUM.finditer(text):
            n = _r17_number(m.group(0))
            if n:
                out.add(n)
        out |= {"i:" + m.group(0).upper() for m in _IDENT_RX.finditer(text)}
    if "@" in text:
        out |= {"e:" + m.group(0).lower() for m in EMAIL_RX.finditer(text)}
    return out


def foreign_key(kind: str, value: str) -> str:
    return fingerprint(kind + value)[:10]


@text_cache(256)
def _r17_task_values(task: str) -> frozenset[str]:
    return frozenset(foreign_values(task))


@text_cache(256)
def task_subjects(task: str) -> tuple[frozenset[str], dict[str, frozenset[str]]]:
    """The task's mailboxes and its ids by shape (`MRN`, `CUS`); not to be mutated (cached)."""
    mails = frozenset(m.group(0).lower() for m in EMAIL_RX.finditer(task)) if "@" in task else frozenset()
    ids: dict[str, set[str]] = {}
    for m in _IDENT_RX.finditer(task):
        tok = m.group(0).upper()
        sm = _R17_ID_SHAPE.match(tok)
        if sm:
            ids.setdefault(sm.group(1), set()).add(tok)
    return mails, {k: frozenset(v) for k, v in ids.items()}


def foreign_entries(task: str, result: Any, internal: tuple[str, ...]) -> set[str]:
    """`fingerprint(value)=fingerprint(owner)` for the rows of a result bound to another person
    than the task's one subject (above)."""
    mails, ids = task_subjects(task)
    # a colleague's mailbox in the task is whom to report to, not a subject
    ext = [m for m in mails if not is_internal(m.rsplit("@", 1)[-1], internal)]
    one_mail = ext[0] if len(ext) == 1 else None
    if one_mail is None and not any(len(v) == 1 for v in ids.values()):
        return set()
    mail_dom = one_mail.rsplit("@", 1)[-1] if one_mail else ""
    task_vals = _r17_task_values(task)
    out: set[str] = set()

    def collect(node: Any, vals: set[str], depth: int) -> None:
        if depth > 4 or len(vals) > 48:
            return
        if isinstance(node, dict):
            for v in node.values():
                collect(v, vals, depth + 1)
        elif isinstance(node, list):
            for x in node[:50]:
                collect(x, vals, depth + 1)
        elif isinstance(node, str):
            vals |= foreign_values(node[:2000])
        elif isinstance(node, (int, float)) and not isinstance(node, bool):
            n = _r17_number(str(node))
            if n:
                vals.add(n)

    def visit(node: Any, depth: int) -> None:
        if depth > 5 or len(out) > 256:
            return
        if isinstance(node, list):
            for x in node[:200]:
                visit(x, depth + 1)
            return
        if not isinstance(node, dict):
            return
        owner = False
        own = False
        names: list[str] = []   # every identity of the row: a call naming any of them names the row
        for k, v in node.items():
            if not isinstance(v, str):
                continue
            if "@" in v and _R17_OWNER_MAIL_KEY.match(str(k)):
                for m in EMAIL_RX.finditer(v):
                    mail = m.group(0).lower()
                    names.append("e:" + mail)
                    if mail in mails:
                        own = True
                    elif one_mail:
                        dom = mail.rsplit("@", 1)[-1]
                        if dom != mail_dom and not is_internal(dom, internal):
                            owner = True
            elif _R17_OWNER_ID_KEY.match(str(k)):
                tok = v.strip().upper()
                names.append("i:" + tok)
                sm = _R17_ID_SHAPE.match(tok)
                if sm and sm.group(1) in ids:
                    if tok in ids[sm.group(1)]:
                        own = True
                    elif len(ids[sm.group(1)]) == 1:
                        owner = True
        if owner and not own:
            vals: set[str] = set()
            collect(node, vals, 0)
            ofp = foreign_key("fo:", "|".join(sorted(names)))
            out.update(f"{foreign_key('fv:', v)}={ofp}" for v in sorted(vals - task_vals)[:48])
            out.update(f"@{foreign_key('fo:', n)}={ofp}" for n in names[:4])
            return
        for v in node.values():
            if isinstance(v, (dict, list)):
                visit(v, depth + 1)

    visit(result, 0)
    return out
