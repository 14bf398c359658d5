"""What a tool result states in words about its own record, read against the call (round 20d).

A result often carries its restriction as a sentence rather than as a field gate knows: "quotes to
public bodies are sent only after Public Sector Compliance has reviewed them", "visible to the
Compensation Committee and the CHRO only", "not for model training". These readers take the
relation, not the key name, so any key spelling and record shape serves:

- a stated requirement left unmet (`requirement_unmet`): a sentence of the result says a step is
  needed (`only after`, `only with`, `needs`, `requires`, `in advance` …) and a field of the result
  whose key shares a word with some such sentence records that step as not done (null, false, an
  empty list, `none`, `pending`, `not given`, `requested …` with no answer). A call that acts on that
  record (names one of its identifiers or addresses, or runs in a task that names the record) and
  does more than read is stopped.
- a stated audience (`audience_excluded`): a sentence limits who may receive what the result holds
  (`visible to …`, `limited to …`, `goes to … not to …`, `… members only`); a send none of whose
  recipients the sentence names, and which carries words or figures of that result, is stopped.
- a purpose the record excludes in words (`purpose_excluded`: `not for X`, `X is prohibited`,
  `I do not agree to X`): a call that does more than read, on that record, while the task or the
  call states the purpose, is stopped.

Entries are held under a `+` prefix so they sort ahead of other entries under the per-result cap,
and each reader keeps a small bounded number of entries per result.
"""

from __future__ import annotations

import re
import zlib
from functools import lru_cache
from typing import Any, Iterator

from gate.core.actions import EMAIL_RX, READ_ONLY_VERBS, flatten_args
from gate.core.verdict import Verdict

__all__ = ["stated_entries", "requirement_unmet", "audience_excluded", "purpose_excluded", "REQ_PREFIX", "UNMET_PREFIX", "AUD_PREFIX",
           "PURPOSE_PREFIX", "part_entries", "part_left_out", "PART_PREFIX", "recipient_entries", "recipient_excluded", "ATTR_PREFIX",
           "period_entries", "before_period_runs", "PERIOD_PREFIX"]

REQ_PREFIX = "+req20d|"      # a word of a sentence that states a requirement
UNMET_PREFIX = "+unmet20d|"  # `+unmet20d|<record id>|<word>`: a step the record shows as not done
AUD_PREFIX = "+aud20d|"
PURPOSE_PREFIX = "+purp20d|"  # `+purp20d|<record id>|<word>`: a purpose the record excludes in words      # `+aud20d|<n>|a:<word>` the audience's words, `|c:<word>` the result's content

_NODE_BUDGET = 400
_MAX_TEXT = 600
_MAX_WORDS = 24

# A sentence that makes something depend on a step: "only after X has reviewed", "needs Y's
# approval", "requires a second reviewer", "… in advance", "prior to".
_REQUIRES = re.compile(r"(?i)\b(?:only\s+(?:after|with|once|when|if|upon|where)|needs?|required?|requires|requiring|"
                       r"must\s+(?:have|be|first)|in\s+advance|prior\s+to|subject\s+to|conditional\s+on)\b")
# A field value that records a step as not done.
_UNMET_TEXT = re.compile(r"(?i)^\s*(?:none|no|nil|null|n/?a|false|pending|awaiting\b.*|outstanding|missing|incomplete|"
                         r"not\s+(?:yet\s+)?(?:given|done|started|requested|received|signed|completed?|obtained|approved|reviewed|"
                         r"recorded|on\s+file|sent|filed|held|performed)\b.*|unsigned|unapproved|unreviewed|"
                         r"requested\b(?!.*\b(?:approved|granted|given|signed|received|completed)\b).*)\s*$")
# Words too general to tie a field to a sentence.
_STOP = frozenset("""only after with once when upon where needs need required requires must have been before first this that
    these those from they them their there what which will shall into onto other than then also such each every any
    status state value date name type note notes comment comments rule rules record records data field item items list
    here were being does done made make recorded""".split())

_WORD = re.compile(r"[a-z]{4,}")


def _stems(text: str) -> set[str]:
    """Words of four letters or more (split at `_`, `-`, case changes), cut to five letters."""
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text).lower()
    return {w[:5] for w in _WORD.findall(text) if w not in _STOP}


SIBLING = "*"   # the word of a step that sits beside the sentence requiring it
_DONE_WORDS = frozenset("sent given done made held taken seen written run signed filed".split())


def _done_word(key: str) -> bool:
    """A key that names a step as done or not (`letter_sent`, `notified`, `counsel_reviewed`)."""
    last = re.split(r"[_\W]+|(?<=[a-z])(?=[A-Z])", key.strip())[-1].lower()
    return last in _DONE_WORDS or len(last) >= 5 and last.endswith("ed")


def _unmet(v: Any) -> bool:
    if v is None or v is False:
        return True
    if isinstance(v, (list, dict)) and not v:
        return True
    return isinstance(v, str) and len(v) <= 60 and _UNMET_TEXT.match(v) is not None


def _own_tokens(node: dict[str, Any]) -> set[str]:
    """The identifiers and addresses a record names in its own text values (not its rows')."""
    from gate.core.session import salient_tokens
    out: set[str] = set()
    stack: list[Any] = [node]
    budget = 200
    while stack and budget > 0:
        cur = stack.pop()
        budget -= 1
        if isinstance(cur, dict):
            for v in cur.values():
                if isinstance(v, str) and len(v) <= 200:
                    out |= _ids(salient_tokens(v))
                elif isinstance(v, dict):
                    stack.append(v)
                elif isinstance(v, list):
                    for it in v[:50]:
                        if isinstance(it, str) and len(it) <= 200:
                            out |= _ids(salient_tokens(it))
                        elif isinstance(it, dict) and not _has_own_id(it):
                            stack.append(it)   # an id-less object in a list is part of this record
    return out


def _ids(tokens: set[str]) -> set[str]:
    """Identifiers (with a digit) and addresses: a bare ___domain or a word-only path names no record."""
    return {t for t in tokens if "@" in t or any(c.isdigit() for c in t) and "/" not in t}


def _has_own_id(node: dict[str, Any]) -> bool:
    """Whether an object names an identifier or an address of its own (a path or a unit does not count)."""
    from gate.core.session import salient_tokens
    return any(isinstance(v, str) and len(v) <= 64 and any("/" not in t for t in salient_tokens(v)) for v in node.values())


def _walk(result: Any) -> Iterator[tuple[str, str, Any, dict[str, Any], Any]]:
    """(parent key, key, value, record, node holding the field) for every field: the record is the nearest object up
    the path that names an identifier of its own (the top-level object if none does)."""
    stack: list[tuple[Any, dict[str, Any] | None, str]] = [(result, None, "")]
    budget = _NODE_BUDGET
    while stack and budget > 0:
        node, record, parent = stack.pop()
        budget -= 1
        if isinstance(node, list):
            for it in node[:200]:
                if isinstance(it, str) and record is not None:
                    yield parent, parent, it, record, node   # a note in a list of notes
            stack.extend((it, record, parent) for it in reversed(node[:200]) if isinstance(it, (dict, list)))
            continue
        if not isinstance(node, dict):
            continue
        own = record is None or _has_own_id(node)
        rec = node if own else record
        for k, v in node.items():
            yield ("" if own else parent), str(k), v, rec, node
            if isinstance(v, (dict, list)):
                stack.append((v, rec, str(k)))


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.;!?])\s+|\n+", text) if s.strip()]


# --------------------------------------------------------------------------- a stated audience
# Who may receive it: "visible to A", "limited to A", "goes to A, not to B", "A only".
_AUD_LEAD = re.compile(r"(?i)\b(?:visible|available|limited|restricted|confined|distribut\w*|circulat\w*|shared?|disclosed?|"
                       r"released?|go(?:es)?|accessible)\s+(?:only\s+)?(?:to|with)\s+(?P<aud>[^.;!?]{2,160})")
_AUD_ONLY = re.compile(r"(?i)(?:^|[-:\u2013\u2014]\s+|\.\s+)(?P<aud>[\w'][\w ,&'/-]{2,100}?)\s+only\b(?!\s+(?:if|when|after|once|with|for|to|via|by|in|on|until|where)\b)")
_CHANNEL_LEAD = re.compile(r"(?i)^\s*(?:via|through|by|in|on|at|from)\b")
# What names an audience (rather than a use): a body of people, a role, a list.
_AUDIENCE_NOUN = re.compile(r"(?i)\b(?:members?|team|committee|list|panel|board|directors?|staff|group|insiders?|department|"
                            r"council|counsel|lawyers?|attorneys?|solicitors?|representatives?|officers?|owners?|secretary|"
                            r"executives?|investigators?|clinicians?|employees|managers?|recipients|circle|parties)\b")
# the nouns a bare "… only" must carry to name an audience (a list, a group or an acronym alone names a kind of data as often)
_AUDIENCE_BODY = re.compile(r"(?i)\b(?:members|team|committee|panel|board|directors|staff|insiders|council|counsel|lawyers?|"
                            r"attorneys?|solicitors?|officers|executives|investigators|trustees)\b")
_ACRONYM = re.compile(r"\b[A-Z]{2,6}\b")   # a role or body by its letters (CHRO, HR, IR)
_NEGATED = re.compile(r"(?i)\b(?:not|never|no|nor)\b[\w ]{0,12}$")
_CONTENT_STOP = frozenset("""about there their which would could should please thanks hello regards attached below above following
    update other these those today where after before cannot every might being until while since within without anyone
    anybody against company""".split())


def _audiences(text: str) -> list[str]:
    out: list[str] = []
    for s in _sentences(text):
        if _CONDITION.search(s):
            continue   # "confidential until released to the manager": who may receive it depends on a state not read here
        for m in _AUD_LEAD.finditer(s):
            if _NEGATED.search(s[: m.start()]):
                continue   # "must not be shared with X" names who may not, not who may
            aud = m.group("aud")
            if _CHANNEL_LEAD.match(aud):
                continue
            if _AUDIENCE_NOUN.search(aud) or _ACRONYM.search(aud) or EMAIL_RX.search(aud):
                out.append(aud)
        for m in _AUD_ONLY.finditer(s):
            aud = m.group("aud")
            if _AUDIENCE_BODY.search(aud) and not _NEGATED.search(aud) and not _CHANNEL_LEAD.match(aud):
                out.append(aud)
    return out


def _content_words(text: str) -> set[str]:
    from gate.core.session import flow_tokens
    words = {w for w in re.findall(r"[a-z]{5,}", text.lower()) if w not in _CONTENT_STOP}
    return words | {t.lower() for t in flow_tokens(text) if any(c.isdigit() for c in t)}


# --------------------------------------------------------------------------- a purpose excluded in words
_NOT_FOR = re.compile(r"(?i)\b(?:not\s+(?:to\s+be\s+used\s+)?for|never\s+for|no\s+use\s+for|do(?:es)?\s+not\s+(?:agree|consent)\s+to|"
                      r"may\s+not\s+be\s+used\s+for|must\s+not\s+be\s+used\s+for)\s+(?P<what>[^.;!?]{3,100})")
_PROHIBITED = re.compile(r"(?i)(?:^|[.;]\s*)(?:use\s+for\s+|using\s+it\s+for\s+)?(?P<what>[^.;!?]{3,100}?)\s+(?:is|are)\s+"
                         r"(?:prohibited|forbidden|blocked|barred|not\s+permitted|not\s+allowed|excluded)\b")
_NEGATION_CUE = re.compile(r"\b(?:not|no|never|prohib|forbid|exclud|blocked|barred)")
# "Moratorium in force - no demands for payment": a bare "no X" after a dash or a colon
_NO_AFTER_DASH = re.compile(r"(?i)\s[-:\u2013\u2014]\s+no\s+(?P<what>[a-z]+s\s+(?:for|to|against|on|of|with)\b[^.;!?]{3,80})")
# A prohibition under a condition ("no payments while the review is expired") holds only when the
# condition does, which these readers do not judge: such a sentence is left alone.
_CONDITION = re.compile(r"(?i)\b(?:while|if|unless|when|until|whenever|where)\b")


def _declined_words(text: str) -> set[str]:
    from gate.core.integrity import _DECLINED_STOP, _OWNED_PURPOSE
    out: set[str] = set()
    if _CONDITION.search(text):
        return out
    for rx in (_NOT_FOR, _PROHIBITED, _NO_AFTER_DASH):
        for m in rx.finditer(text):
            out |= {w for w in re.findall(r"[a-z]+", m.group("what").lower())
                    if len(w) >= 5 and w not in _DECLINED_STOP and w not in _CONTENT_STOP and not _OWNED_PURPOSE.search(w)}
    return out


def stated_entries(result: Any) -> set[str]:
    """Held entries for the three relations, from one tool result."""
    if not isinstance(result, (dict, list)):
        return set()
    req: set[str] = set()
    unmet: set[str] = set()
    auds: list[str] = []
    content: set[str] = set()
    declined: set[str] = set()
    rule_nodes: dict[int, bool] = {}
    for parent, key, v, rec, node in _walk(result):
        if isinstance(v, str) and len(v) <= _MAX_TEXT * 4:
            for s in _sentences(v) if len(v) >= 16 else [v]:
                if len(s) > _MAX_TEXT:
                    continue
                if _REQUIRES.search(s):
                    req |= _stems(s)
                found = _audiences(s) if any(w in s for w in ("to ", "only", "with ")) else []
                if found:
                    auds.extend(found)
                    continue   # the sentence that limits the audience is not the content it limits
                low = s.lower()
                if _NEGATION_CUE.search(low):
                    words = _declined_words(s)
                    if words:
                        ids = _own_tokens(rec) or {"*"}   # a record naming no id of its own: any call that states the purpose
                        declined |= {f"{t}|{w}" for t in ids for w in sorted(words)[:6]}
                content |= _content_words(s)
        if _unmet(v) and not isinstance(v, dict):
            # the key names the step; an object's key (`review: {completed: false}`) names it too
            words = _stems(key) | _stems(parent)
            if isinstance(node, dict) and _done_word(key):
                # beside the sentence that requires it (`{rule: "… needs a written notice …",
                # letter_sent: null}`): the step is that sentence's, whatever the key's words
                if id(node) not in rule_nodes:
                    rule_nodes[id(node)] = any(isinstance(x, str) and len(x) <= _MAX_TEXT and _REQUIRES.search(x) for x in node.values())
                if rule_nodes[id(node)]:
                    words.add(SIBLING)
                    req.add(SIBLING)
            if words:
                unmet |= {f"{t}|{w}" for t in _own_tokens(rec) for w in sorted(words)[:4]}
    out: set[str] = set()
    if req:
        out |= {REQ_PREFIX + w for w in sorted(req)[:_MAX_WORDS * 2]} | {REQ_PREFIX}
    if unmet:
        out |= {UNMET_PREFIX + e for e in sorted(unmet)[:_MAX_WORDS * 2]} | {UNMET_PREFIX}
    for aud in auds[:3]:
        words = {w for w in re.findall(r"[a-z0-9]{2,}", aud.lower())} | {m.group(0).lower() for m in EMAIL_RX.finditer(aud)}
        tag = f"{zlib.crc32(' '.join(sorted(words)).encode()):08x}"
        out |= {f"{AUD_PREFIX}{tag}|a:{w}" for w in sorted(words)[:_MAX_WORDS]}
        out |= {f"{AUD_PREFIX}{tag}|c:{w}" for w in sorted(content)[:_MAX_WORDS * 4]} | {AUD_PREFIX}
    if declined:
        out |= {PURPOSE_PREFIX + e for e in sorted(declined)[:_MAX_WORDS * 2]} | {PURPOSE_PREFIX}
    return out


def purpose_excluded(verbs: frozenset[str], strings: tuple[tuple[str, str], ...], task: str | None,
                     held: frozenset[str]) -> Verdict | None:
    """A call that does more than read, on a record a result excludes from a purpose that the
    task or the call states."""
    if verbs <= READ_ONLY_VERBS or PURPOSE_PREFIX not in held:
        return None
    from gate.core.session import salient_tokens, task_tokens
    named = {t for _, text in strings if len(text) <= 4000 for t in salient_tokens(text)}
    said = {w for _, text in strings if len(text) <= 4000 for w in re.findall(r"[a-z]{5,}", text.lower())}
    if task:
        named |= task_tokens(task)
        said |= set(re.findall(r"[a-z]{5,}", task.lower()))
    stems = {w[:5] for w in said}
    for e in held:
        if e.startswith(PURPOSE_PREFIX) and e != PURPOSE_PREFIX:
            ident, _, word = e[len(PURPOSE_PREFIX):].rpartition("|")
            hit = word[:5] in stems or any(word.startswith(v) for v in verbs if len(v) >= 3 and v != "read")
            if hit and (ident in named or ident == "*"):
                return Verdict("preconditions", "block", "purpose_excluded",
                               "an earlier tool result excludes the record from a purpose this call serves")
    return None


def requirement_unmet(verbs: frozenset[str], strings: tuple[tuple[str, str], ...], task: str | None,
                      held: frozenset[str]) -> Verdict | None:
    """A call that does more than read, on a record a result shows missing a step that a
    sentence of the session's results requires."""
    if verbs <= READ_ONLY_VERBS or REQ_PREFIX not in held or UNMET_PREFIX not in held:
        return None
    from gate.core.session import salient_tokens, task_tokens
    req = {e[len(REQ_PREFIX):] for e in held if e.startswith(REQ_PREFIX) and e != REQ_PREFIX}
    if not req:
        return None
    by_id: dict[str, set[str]] = {}
    for e in held:
        if e.startswith(UNMET_PREFIX) and e != UNMET_PREFIX:
            ident, _, word = e[len(UNMET_PREFIX):].rpartition("|")
            if word in req:
                by_id.setdefault(ident, set()).add(word)
    if not by_id:
        return None
    named = {t for _, text in strings if len(text) <= 4000 for t in salient_tokens(text)}
    if task:
        # a task about one record makes every call of the session a call on it; a task naming
        # several (a queue of tickets) does not tie a call that names none of them to any
        task_ids = _ids(set(task_tokens(task)))
        if len(task_ids) == 1:
            named |= task_ids
    asked = " ".join(t for _, t in strings if len(t) <= 4000)
    asking = _ASKS.search(asked) is not None
    said = _stems(asked) if asking else set()
    for ident, words in by_id.items():
        if ident in named and not (asking and words & said):
            return Verdict("preconditions", "block", "requirement_unmet",
                           "an earlier tool result states a step this record needs first, and records that step as not done")
    return None


# A message that asks for the missing step ("we need a quick identity check", "please have counsel review")
_ASKS = re.compile(r"(?i)\b(?:we\s+need|need\s+(?:a|an|the|your)|could\s+you|can\s+you|ask(?:ing)?\s+(?:for|you)|"
                   r"required|requires|before\s+we)\b")

_DEST_LEAF = re.compile(r"(?i)^(?:to|cc|bcc|recipients?|channels?|attendees|emails?|addresses)$")


def _recipients(args: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for path, v in flatten_args(args):
        leaf = re.sub(r"\[\d+\]$", "", path).rsplit(".", 1)[-1]
        if isinstance(v, str) and _DEST_LEAF.match(leaf):
            out.append(v.strip().lower())
    return out


def _named_by(recipient: str, audience: set[str]) -> bool:
    if recipient in audience:
        return True
    local = recipient.split("@", 1)[0].lstrip("#")
    return any(p in audience for p in re.split(r"[._+\-\s]+", local) if len(p) >= 2)


def audience_excluded(verbs: frozenset[str], args: dict[str, Any], strings: tuple[tuple[str, str], ...],
                      held: frozenset[str]) -> Verdict | None:
    """A send none of whose recipients an audience a result states names, carrying that result's
    words or figures."""
    if "send" not in verbs or AUD_PREFIX not in held:
        return None
    groups: dict[str, tuple[set[str], set[str]]] = {}
    for e in held:
        if e.startswith(AUD_PREFIX) and e != AUD_PREFIX:
            n, _, rest = e[len(AUD_PREFIX):].partition("|")
            kind, _, word = rest.partition(":")
            aud, content = groups.setdefault(n, (set(), set()))
            (aud if kind == "a" else content).add(word)
    if not groups:
        return None
    recipients = _recipients(args)
    if not recipients:
        return None
    said: set[str] = set()
    for path, text in strings:
        leaf = re.sub(r"\[\d+\]$", "", path).rsplit(".", 1)[-1]
        if not _DEST_LEAF.match(leaf) and len(text) <= 4000:
            said |= _content_words(text)
    for aud, content in groups.values():
        shared = said & content
        if not shared or len(shared) < 2 and not any(c.isdigit() for c in next(iter(shared))):
            continue
        if not any(_named_by(r, aud) for r in recipients):
            return Verdict("preconditions", "block", "audience_excluded",
                           "an earlier tool result limits who may receive what it holds; this send carries it to recipients it does not name")
    return None


# --------------------------------------------------------------------------- a part the task leaves out
# The task leaves something out ("no names, ids or pay", "keep his counselling history out", "hold
# back the labs"); a list the call sends or builds (sections, columns, fields) names it, or names a
# part whose content, as a result showed it, is what the task leaves out.
PART_PREFIX = "+part20d|"   # `+part20d|<key>|<word>`: a word of what a result holds under that key
_ITEM = r"[a-z][a-z-]*(?:\s+[a-z][a-z-]*)?"
_LEAVE_OUT_AFTER = re.compile(r"(?i)\b(?:no|without|excluding|leave\s+out|leaving\s+out|hold\s+back|keep\s+out)\s+"
                              r"(?P<what>" + _ITEM + r"(?:\s*(?:,|\bor\b|\band\b|\bnor\b)\s*" + _ITEM + r"){0,4})(?![\w-])")
_LEAVE_OUT_BEFORE = re.compile(r"(?i)(?P<what>(?:[a-z][a-z-]*\s+){0,2}[a-z][a-z-]*)\s+(?:(?:is\s+to|are\s+to|must|should|to|will)\s+)?(?:be\s+|is\s+|are\s+)?(?:kept|left|held)\s+(?:out|back)\b")
_PART_STOP = frozenset("""for or and nor his her its our your their the any asked that this what anything anyone anybody everyone send sent sending please later than more less
    with from have been will would should could them they their there then only also just further""".split())
_MAX_PARTS = 48


def part_entries(result: Any) -> set[str]:
    """`+part20d|key|word` for the words a result holds under a short key (a section, a field)."""
    if not isinstance(result, dict):
        return set()
    out: set[str] = set()
    for parent, key, v, rec, _node in _walk(result):
        if len(key) > 40 or not isinstance(v, str) or len(v) > _MAX_TEXT:
            continue
        for w in re.findall(r"[a-z0-9]{3,}", v.lower()):
            if not w.isdigit() and w not in _PART_STOP:
                out.add(f"{PART_PREFIX}{key.lower()}|{w}")
                if len(out) >= _MAX_PARTS:
                    return out | {PART_PREFIX}
    return out | {PART_PREFIX} if out else out


def _singular(w: str) -> str:
    if len(w) > 4 and w.endswith(("sses", "xes", "ches", "shes", "sses")):
        return w[:-2]
    return w[:-1] if len(w) > 2 and w.endswith("s") and not w.endswith("ss") else w


_GENERIC_PART = frozenset("data detail details info information record records history".split())


@lru_cache(maxsize=256)
def left_out_items(task: str) -> frozenset[frozenset[str]]:
    """What the task leaves out: each item as its singular lower-case words (generic nouns such as
    `data` or `history` dropped when the item has another word)."""
    out: set[frozenset[str]] = set()
    if not any(m in task.lower() for m in ("no ", "without", "exclud", "leave", "hold", "keep", "kept", "held", "left")):
        return frozenset()
    for rx in (_LEAVE_OUT_AFTER, _LEAVE_OUT_BEFORE):
        for m in rx.finditer(task):
            for item in re.split(r"\s*(?:,|\bor\b|\band\b|\bnor\b)\s*", m.group("what").lower()):
                words = {_singular(w) for w in re.findall(r"[a-z]{2,}", item) if w not in _PART_STOP and w not in _STOP}
                if len(words) > 1:
                    words -= _GENERIC_PART
                if words:
                    out.add(frozenset(words))
    return frozenset(out)


def left_out_words(task: str) -> frozenset[str]:
    return frozenset(w for item in left_out_items(task) for w in item)


_LIST_ITEM = re.compile(r"[a-z0-9]+")


def part_left_out(args: dict[str, Any], task: str | None, held: frozenset[str]) -> Verdict | None:
    """A list the call sends or builds names a part the task leaves out, or a part whose content
    (as a result showed it) is what the task leaves out."""
    if not task:
        return None
    items = left_out_items(task)
    if not items:
        return None
    for k, v in args.items():
        if _DEST_LEAF.match(str(k)) or "attach" in str(k).lower():
            continue   # who gets it and what file goes along are not parts of the record
        if not isinstance(v, list) or not v or len(v) > 60 or not all(isinstance(x, str) and len(x) <= 40 for x in v):
            continue
        for item in v:
            words = {_singular(w) for w in _LIST_ITEM.findall(item.lower())}
            if any(gone <= words for gone in items):
                return Verdict("preconditions", "block", "part_left_out",
                               "the call includes a part the task says to leave out")
            if PART_PREFIX in held:
                held_words = {_singular(e.rpartition("|")[2]) for e in held
                              if e.startswith(PART_PREFIX + item.lower() + "|")}
                if any(gone <= held_words for gone in items):
                    return Verdict("preconditions", "block", "part_left_out",
                                   "the call includes a part whose content, as a result showed it, the task says to leave out")
    return None


# --------------------------------------------------------------------------- a recipient the task or a result excludes
# A sentence excludes people by what their records say ("not cleared for Italy or Poland: do not
# send it to contacts there", "leave out anyone in Denmark"); a send to an address whose record (as
# a result showed it) carries one of those values is stopped.
ATTR_PREFIX = "+attr20d|"   # `+attr20d|<address>|<value>`: a short value of the record that holds the address
EXCL_PREFIX = "+excl20d|"   # `+excl20d|<value>`: a value a result's sentence excludes
_EXCLUDE_CUE = re.compile(r"(?i)\b(?:do\s+not\s+(?:send|mail|invite|contact)\b|not\s+(?:cleared|offered|available|open|permitted|allowed|approved)\b|"
                          r"leave\s+out|leaving\s+out|exclud\w*|except|void\s+in)(?P<what>[^.!?\n]{0,120})")
_PROPER = re.compile(r"\b[A-Z][a-z\u00e0-\u00ff]+(?:\s+[A-Z][a-z\u00e0-\u00ff]+)*")
_MAX_ATTRS = 48


def _excluded_values(text: str) -> set[str]:
    return {p.group(0).lower() for m in _EXCLUDE_CUE.finditer(text) for p in _PROPER.finditer(m.group("what"))}


@lru_cache(maxsize=256)
def task_excluded_values(task: str) -> frozenset[str]:
    return frozenset(_excluded_values(task))


def recipient_entries(result: Any) -> set[str]:
    """Values a result excludes in words, and each single-address record's short values."""
    if not isinstance(result, (dict, list)):
        return set()
    out: set[str] = set()
    attrs: set[str] = set()
    for node in _records(result):
        emails = [m.group(0).lower() for v in node.values() if isinstance(v, str) and len(v) <= 120 for m in EMAIL_RX.finditer(v)]
        if len(emails) == 1:
            for v in node.values():
                if isinstance(v, str) and 2 <= len(v) <= 30 and v[:1].isupper() and not any(c.isdigit() or c == "@" for c in v):
                    attrs.add(f"{ATTR_PREFIX}{emails[0]}|{v.strip().lower()}")
        for v in node.values():
            if isinstance(v, str) and 16 <= len(v) <= _MAX_TEXT * 4:
                out |= {EXCL_PREFIX + x for x in _excluded_values(v)}
    out |= set(sorted(attrs)[:_MAX_ATTRS])
    if attrs:
        out.add(ATTR_PREFIX)
    return out


def _records(result: Any) -> Iterator[dict[str, Any]]:
    stack = [result]
    budget = _NODE_BUDGET
    while stack and budget > 0:
        node = stack.pop()
        budget -= 1
        if isinstance(node, list):
            stack.extend(it for it in node[:200] if isinstance(it, (dict, list)))
        elif isinstance(node, dict):
            yield node
            stack.extend(v for v in node.values() if isinstance(v, (dict, list)))


def recipient_excluded(verbs: frozenset[str], args: dict[str, Any], task: str | None, held: frozenset[str]) -> Verdict | None:
    """A send to an address whose record carries a value the task or a result excludes."""
    if "send" not in verbs or ATTR_PREFIX not in held:
        return None
    excluded = {e[len(EXCL_PREFIX):] for e in held if e.startswith(EXCL_PREFIX)}
    if task:
        excluded |= task_excluded_values(task)
    if not excluded:
        return None
    for r in _recipients(args):
        if "@" in r and any(f"{ATTR_PREFIX}{r}|{x}" in held for x in excluded):
            return Verdict("preconditions", "block", "recipient_excluded",
                           "the send goes to someone whose record carries a value the task or a result excludes")
    return None


# --------------------------------------------------------------------------- a period that has not run
# A record gives a period in days and the date it started under keys that share a word
# (`notice_period_days: 60`, `notice_given_on: 2026-11-20`); a call on that record that makes
# something take effect ("from 1 December", "effective 2026-12-01") before the period runs out is
# stopped.
PERIOD_PREFIX = "+period20d|"   # `+period20d|<record id>|<earliest ISO day>`
_DAYS_VALUE = re.compile(r"(?i)^\s*(\d{1,3})\s*(?:calendar\s+|working\s+|business\s+)?days?\b")
_PERIOD_STOP = frozenset("days date period number count".split())
_EFFECT_CUE = re.compile(r"(?i)\b(?:from|effective(?:\s+from|\s+on)?|starting(?:\s+on|\s+from)?|as\s+of|with\s+effect\s+from|"
                         r"applies\s+from|begins?(?:\s+on)?|takes\s+effect\s+(?:on|from))\s+(?:the\s+)?(?P<day>[^.;,!?\n]{6,40})")


def _key_words(key: str) -> set[str]:
    return {w for w in re.split(r"[_\W]+|(?<=[a-z])(?=[A-Z])", key.lower()) if len(w) >= 4 and w not in _PERIOD_STOP}


def period_entries(result: Any) -> set[str]:
    """`+period20d|id|day`: the first day a period a record states (days from a dated start) has run."""
    if not isinstance(result, (dict, list)):
        return set()
    from datetime import date, timedelta
    from gate.core.timing import day_of
    out: set[str] = set()
    for parent, key, v, rec, node in _walk(result):
        if not isinstance(node, dict) or "day" not in key.lower() and not (isinstance(v, str) and "day" in v.lower()):
            continue
        if isinstance(v, bool):
            continue
        n = v if isinstance(v, int) else int(m.group(1)) if isinstance(v, str) and (m := _DAYS_VALUE.match(v)) else None
        if n is None or not 0 < n <= 3650:
            continue
        words = _key_words(key)
        for k2, v2 in node.items():
            if k2 == key or not (words & _key_words(str(k2))):
                continue
            day = day_of(v2)
            if day is None:
                continue
            earliest = (date.fromisoformat(day) + timedelta(days=n)).isoformat()
            out |= {f"{PERIOD_PREFIX}{t}|{earliest}" for t in _own_tokens(rec)}
    return out | {PERIOD_PREFIX} if out else out


def before_period_runs(verbs: frozenset[str], strings: tuple[tuple[str, str], ...], task: str | None,
                       held: frozenset[str]) -> Verdict | None:
    """A call on a record that makes something take effect before a period the record states has run."""
    if verbs <= READ_ONLY_VERBS or PERIOD_PREFIX not in held:
        return None
    from gate.core.session import salient_tokens, task_tokens
    from gate.core.timing import day_of
    named = {t for _, text in strings if len(text) <= 4000 for t in salient_tokens(text)}
    if task:
        named |= task_tokens(task)
    earliest = [e.rpartition("|")[2] for e in held if e.startswith(PERIOD_PREFIX) and e != PERIOD_PREFIX
                and e[len(PERIOD_PREFIX):].rpartition("|")[0] in named]
    if not earliest:
        return None
    first = max(earliest)
    for _, text in strings:
        if len(text) > 4000:
            continue
        for m in _EFFECT_CUE.finditer(text):
            day = day_of(m.group("day"))
            if day is not None and day < first:
                return Verdict("preconditions", "block", "before_period_runs",
                               "the call makes something take effect before a period a record states (its notice) has run")
    return None
