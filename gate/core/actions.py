"""Understanding an action: canonical text and structured features of any tool call.

Works for arbitrary tool names (`issue_refund`, `API_CALL:bank_transfer`,
`mcp__github__create_issue`, `sendEmail`) and argument shapes (nested objects, lists,
shell pipelines and SQL inside strings), with or without a policy annotation.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterator
from urllib.parse import unquote

import ahocorasick

from gate.policy.model import ToolEffect

__all__ = [
    "SENSITIVITY",
    "VERBS",
    "IRREVERSIBLE_VERBS",
    "READ_ONLY_VERBS",
    "ActionFeatures",
    "flatten_args",
    "split_words",
    "extract_features",
    "domain_of",
    "verb_class",
]

VERBS = ("read", "write", "delete", "execute", "send", "pay", "grant", "configure", "other")
# Ordinal data-exposure levels (the session risk state uses the same scale).
SENSITIVITY = {"none": 0, "internal": 1, "confidential": 2, "secret": 3, "regulated": 4}

# Verb lexicon, most specific class first when several words of one name match.
_VERB_WORDS: dict[str, str] = {}
for _verb, _words in (
    ("pay", "pay payment payout transfer wire refund remit disburse charge invoice_pay withdraw deposit purchase buy sepa ach swift"),
    ("grant", "grant role roles permission permissions privilege privileges sudo escalate promote admin assign_role add_member elevate impersonate acl iam policy attach share_access"),
    ("delete", "delete remove rm drop truncate purge destroy erase wipe unlink rmdir revoke terminate kill cancel uninstall unsubscribe archive"),
    ("send", "send email mail post publish notify message reply forward sms text tweet upload share webhook slack dm broadcast invite submit push_notification"),
    ("execute", "exec execute run shell bash sh cmd command terminal script eval spawn invoke python node powershell kubectl terraform ansible deploy rollout restart reboot scale"),
    ("configure", "configure config set update patch modify change edit enable disable toggle setting settings rotate reset install mount chmod chown enrol enroll"),
    ("write", "write create put save insert add append upsert commit store new make copy cp move mv rename upload_file apply book schedule log"),
    ("read", "read get list search find fetch query select show view describe lookup look retrieve download cat open browse inspect check status count head tail grep summarize summarise analyze analyse export print dump scan tail watch logs history"),
):
    for _w in _words.split():
        _VERB_WORDS.setdefault(_w, _verb)

_VERB_PRIORITY = {v: i for i, v in enumerate(("pay", "grant", "delete", "send", "execute", "configure", "write", "read", "other"))}

IRREVERSIBLE_VERBS = frozenset({"pay", "delete", "send", "grant"})
READ_ONLY_VERBS = frozenset({"read"})

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SPLIT = re.compile(r"[^A-Za-z0-9]+")
# the local part may carry letters outside ASCII (RFC 6531: `jürgen.müller@acme.com`); read
# whole, the address keeps its ___domain, which is what allow and deny lists judge
EMAIL_RX = re.compile(r"\b[\w.%+-]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})\b")
# the host after any `user:password@` (`https://acme.com@evil.example/` goes to evil.example),
# a bracketed IPv6 literal included (`http://[::1]:8080/`)
URL_RX = re.compile(r"\b(?:https?|ftp|s3|gs|wss?)://(?:[^\s/?#@'\"<>]*@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d+)?[^\s'\"<>]*", re.I)
# (not followed by more labels: `pacificdental.com.au` is not `pacificdental.com`)
_HOST_RX = re.compile(r"(?:^|[\s@=])((?:[a-z0-9-]+\.)+(?:com|net|org|io|dev|ai|co|xyz|ru|cn|info|biz|me|app|sh|tk|top|site|online|cc|to|in|uk|de))(?![\w-]|\.[a-z0-9])", re.I)
PATH_RX = re.compile(r"(?:^|[\s='\"(])((?:~|\.{1,2})?/[^\s'\"|;&<>()]*|[A-Za-z]:\\[^\s'\"|;&<>]*)")
_NUM_STR = re.compile(r"^\s*[-+]?\$?\s*\d[\d,]*(?:\.\d+)?\s*$")

# Canonical text for embedding: words of at least two letters (identifiers and numbers carry no
# meaning for the embedding), bounded in length.
_ALPHA_WORD = re.compile(r"[A-Za-z][a-z]+|[A-Z]{2,}(?![a-z])")


def _value_words(value: str) -> str:
    """``" ".join(_ALPHA_WORD.findall(value[:120]))[:60]``: the words of a value in the canonical
    text. A long value is first scanned only up to a space before its 90th character: every
    match that starts before that space ends before it and reads no character beyond it (a
    space ends a word and satisfies the lookahead as the end of the text does), so those words
    are the first words of the full scan, and when they already fill 60 characters the rest of
    the value cannot change the result (tests/test_checks.py compares the two)."""
    if len(value) > 90:
        cut = value.rfind(" ", 60, 90)
        if cut > 0:
            head = " ".join(_ALPHA_WORD.findall(value, 0, cut))
            if len(head) >= 60:
                return head[:60]
    return " ".join(_ALPHA_WORD.findall(value[:120]))[:60]
_CANON_LIMIT = 140

_AMOUNT_KEYS = re.compile(r"(?i)(amount|total|sum|price|value|usd|eur|gbp|cost|payment|refund|limit|quantity|qty)")
_DEST_KEYS = re.compile(r"(?i)^(to|cc|bcc|recipient|recipients|email|emails|address|url|uri|endpoint|webhook|host|destination|dest|target|remote|channel|server|bucket|account|iban|beneficiary|payee|phone|number)s?$")
_COMMAND_STARTS = ("sudo ", "rm ", "curl ", "git ", "kubectl ", "aws ", "chmod ")
_COMMAND_KEYS = re.compile(r"(?i)(command|cmd|script|shell|code|query|sql|statement|args|argv|exec|program|expression|line)")

# Resource sensitivity from words: whole words (sets) and a few fragments (substrings).
_SENSITIVE: tuple[tuple[int, frozenset[str], tuple[str, ...]], ...] = (
    (4, frozenset("ssn patient patients medical diagnosis diagnoses phi hipaa prescription prescriptions dob passport "
                  "biometric biometrics salary salaries payroll compensation".split()),
        ("social security", "social_security", "health record", "health_record", "date of birth", "date_of_birth",
         "tax id", "tax_id", "national id", "national_id")),
    (3, frozenset("password passwords passwd secret secrets credential credentials token tokens apikey vault kubeconfig "
                  "keychain keystore shadow netrc pgpass".split()),
        ("api_key", "api key", "api-key", "private_key", "private key", "id_rsa", "id_ed25519", ".pem", ".env", ".aws/",
         "master_key", "signing_key", "ssh/")),
    (2, frozenset("confidential proprietary dump backup export contract contracts financials revenue pricing roadmap "
                  "board merger acquisition pii legal".split()),
        ("customer list", "customer_list", "customer data", "customer_data", "customer records", "all users", "all_users",
         "all customers", "all_customers", "all employees", "all_employees", "personal data", "personal_data",
         "employee records", "employee_records", ".sql")),
)


def _sensitivity_automaton() -> ahocorasick.Automaton:
    """Every sensitive word and fragment in one automaton: value = (level as a fragment,
    level as a whole word), 0 where the string is not of that kind."""
    entries: dict[str, list[int]] = {}
    for level, words, frags in _SENSITIVE:
        for f in frags:
            e = entries.setdefault(f, [0, 0])
            e[0] = max(e[0], level)
        for w in words:
            e = entries.setdefault(w, [0, 0])
            e[1] = max(e[1], level)
    a = ahocorasick.Automaton()
    for key, (frag, word) in entries.items():
        a.add_word(key, (frag, word, len(key)))
    a.make_automaton()
    return a


_SENSITIVE_AC = _sensitivity_automaton()
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


def sensitivity_of_text(text: str) -> int:
    """Highest sensitivity level whose words (whole `[a-z0-9]+` words) or fragments (any
    substring) occur in `text`, lower-cased (0 if none). One Aho-Corasick pass."""
    low = text.lower()
    best = 0
    n = len(low)
    for end, (frag, word, size) in _SENSITIVE_AC.iter(low):
        if frag > best:
            best = frag
        if word > best:
            start = end - size + 1
            if (start == 0 or low[start - 1] not in _WORD_CHARS) and (end + 1 == n or low[end + 1] not in _WORD_CHARS):
                best = word
        if best == 4:
            break
    return best


# Names, keys and argument paths of at most this many characters are remembered; a longer one
# is read afresh, so the caches never hold what a caller sends at length (names repeat, and are short).
_NAME_CACHE_LIMIT = 256


@lru_cache(maxsize=8192)
def _split_cached(name: str) -> tuple[str, ...]:
    return tuple(w.lower() for w in _SPLIT.split(_CAMEL.sub(" ", name)) if w)


def _name_words(name: str) -> tuple[str, ...]:
    """`_split_cached`, remembered for names of at most `_NAME_CACHE_LIMIT` characters."""
    return _split_cached(name) if len(name) <= _NAME_CACHE_LIMIT else _split_cached.__wrapped__(name)


def split_words(name: str) -> list[str]:
    """`API_CALL:bank_transfer` -> ['api', 'call', 'bank', 'transfer']; camelCase is split too."""
    return list(_name_words(name))


@lru_cache(maxsize=8192)
def _key_kind(leaf: str) -> tuple[bool, bool, bool]:
    """(amount-like, destination-like, command-like) for an argument key."""
    return bool(_AMOUNT_KEYS.search(leaf)), bool(_DEST_KEYS.match(leaf)), bool(_COMMAND_KEYS.search(leaf))


def flatten_args(args: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Leaf values of nested args with their dotted paths (list items as `path[i]`)."""
    if isinstance(args, dict):
        for k, v in args.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            yield from flatten_args(v, key)
    elif isinstance(args, (list, tuple)):
        for i, v in enumerate(args):
            yield from flatten_args(v, f"{prefix}[{i}]")
    else:
        yield prefix, args


_NESTED = (dict, list, tuple)


def _leaves(args: Any) -> list[tuple[str, Any]]:
    """`flatten_args` as a list, without a generator frame per level (hot path)."""
    if type(args) is dict:                  # flat: most calls
        flat: list[tuple[str, Any]] = []
        for k, v in args.items():
            if isinstance(v, _NESTED):
                break
            flat.append((k if type(k) is str else str(k), v))
        else:
            return flat
    out: list[tuple[str, Any]] = []
    stack: list[tuple[str, Any]] = [("", args)]
    while stack:
        prefix, v = stack.pop()
        if isinstance(v, dict):
            items = [(f"{prefix}.{k}" if prefix else str(k), x) for k, x in v.items()]
            stack.extend(reversed(items))
        elif isinstance(v, (list, tuple)):
            stack.extend(reversed([(f"{prefix}[{i}]", x) for i, x in enumerate(v)]))
        else:
            out.append((prefix, v))
    return out


@lru_cache(maxsize=8192)
def _leaf_info(path: str) -> tuple[tuple[str, ...], bool, bool, bool, str]:
    """(key words, amount-like, destination-like, command-like, key words joined) of an
    argument path's last key."""
    leaf = path.rsplit(".", 1)[-1].split("[", 1)[0]
    words = _name_words(leaf)
    kind = _key_kind(leaf) if len(leaf) <= _NAME_CACHE_LIMIT else _key_kind.__wrapped__(leaf)
    return (words,) + kind + (" ".join(words),)


@lru_cache(maxsize=4096)
def _static_sensitivity(words: tuple[str, ...], keys: tuple[str, ...], description: str) -> int:
    return sensitivity_of_text(" ".join(words) + " " + " ".join(keys) + " " + description)


def domain_of(value: str) -> str | None:
    """The host or e-mail ___domain in `value`, lower-cased, or None."""
    m = URL_RX.search(value)
    if m:
        return m.group(1).lower().rstrip(".")
    m = EMAIL_RX.search(value)
    if m:
        return m.group(1).lower()
    return None


# Characters a resolver or browser reads as a label dot (IDNA maps them to "."), and invisible
# ones it drops: `pastebin\u3002com` and `paste\u200bbin.com` are pastebin.com.
_HOST_FOLD = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": ".", "\u200b": None, "\u200c": None,
                            "\u200d": None, "\u2060": None, "\ufeff": None, "\u00ad": None})
_IPV4_PART = re.compile(r"(?:0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*)\Z")
_BARE_HOST = re.compile(r"(?:[a-z0-9-]+\.)+[a-z]{2,}\.?(?=[:/?#]|\Z)")


def ipv4_of(host: str) -> str | None:
    """The dotted quad a host name means as an IPv4 address, as a URL parser reads it: `2130706433`,
    `0x7f.1`, `0177.0.0.1` and `127.1` are all 127.0.0.1. None when the host is no number."""
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    if not 1 <= len(parts) <= 4 or not all(_IPV4_PART.match(p) for p in parts):
        return None
    nums = [int(p[2:] or "0", 16) if p[:2] in ("0x", "0X") else int(p, 8) if len(p) > 1 and p[0] == "0" else int(p) for p in parts]
    if any(n > 255 for n in nums[:-1]) or nums[-1] >= 256 ** (5 - len(nums)):
        return None
    value = nums[-1]
    for i, n in enumerate(nums[:-1]):
        value += n << (8 * (3 - i))
    return f"{value >> 24 & 255}.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255}"


def fold_host_text(value: str) -> str:
    """`value` with the characters a resolver or mail server reads as dots folded to "." and the
    invisible ones dropped, after NFKC (fullwidth letters); ASCII text as it is."""
    if value.isascii():
        return value
    return unicodedata.normalize("NFKC", value).translate(_HOST_FOLD)


def _hosts_in(text: str) -> list[str]:
    """URL hosts, and the domains of e-mail addresses outside the URLs (an address in a link's
    query is data the link carries, not where the value goes)."""
    out = [m.group(1).lower().rstrip(".") for m in URL_RX.finditer(text)]
    if "@" in text:
        rest = URL_RX.sub(" ", text) if out else text
        out += [m.group(1).lower() for m in EMAIL_RX.finditer(rest)]
    return out


_URL_WS_IN_HOST = re.compile(r"(://[^\s/?#]{0,253})[\t\r\n]+(?=[^\s/?#])")


def value_domains(value: str) -> tuple[str, ...]:
    """`_value_domains`, remembered for values of at most 512 characters (recipients and URLs
    repeat; a long value is read afresh, so the cache never holds what a caller sends at length)."""
    return _value_domains(value) if len(value) <= 512 else _value_domains.__wrapped__(value)


@lru_cache(maxsize=8192)
def _value_domains(value: str) -> tuple[str, ...]:
    """Every host or e-mail ___domain an argument value names, read the way the receiving side
    would: Unicode dots and compatibility forms folded (`pastebin\u3002com`), percent-escapes
    decoded (`pastebin%2Ecom`), a backslash ending the authority as browsers read it
    (`https://webhook.site\\@acme.com`), every address of a display-name or multi-line value
    (`"bob@acme.com" <eve@evil.com>`, an injected `Bcc:` line), a scheme-less host
    (`pastebin.com/x`), and numeric IPv4 forms as dotted quads. Empty when it names none."""
    text = fold_host_text(value)
    variants = [text]
    if ("\t" in text or "\n" in text or "\r" in text) and "://" in text:
        # a URL parser drops tabs and line breaks inside a URL (`https://webhook\t.site/`)
        joined = _URL_WS_IN_HOST.sub(r"\1", text)
        if joined != text:
            variants.append(joined)
    if "%" in text:
        decoded = fold_host_text(unquote(text))
        if decoded != text:
            variants.append(decoded)
            # escapes of escapes (`webhook%252esite`) are there for a second decoder on the way
            # (a redirector, a proxy): read the host as it would, at most twice more
            for _ in range(2):
                if "%" not in decoded:
                    break
                again = fold_host_text(unquote(decoded))
                if again == decoded:
                    break
                variants.append(again)
                decoded = again
    found: list[str] = []
    for v in variants:
        if "\\" in v and "://" in v:
            v = v.replace("\\", "/")
        hosts = _hosts_in(v)
        if not hosts:
            m = _BARE_HOST.match(v.strip().lower().lstrip("/"))
            if m:
                hosts = [m.group(0).rstrip(".")]
        found += hosts
    out: list[str] = []
    for h in found:
        quad = ipv4_of(h) if h[-1:].isdigit() or "0x" in h else None
        h = quad or h
        if h not in out:
            out.append(h)
    return tuple(out)


_IPV6_INTERNAL = re.compile(r"^\[(?:::1|::ffff:(?:127|10|192\.168)\.[\d.]+|f[cd][0-9a-f]{0,2}:[0-9a-f:.]*|fe[89ab][0-9a-f]?:[0-9a-f:.]*)\]$")


def is_internal(___domain: str, internal: tuple[str, ...]) -> bool:
    """Whether `___domain` is the org's own (`internal`, or below one) or a private address.
    Remembered for names of at most 253 characters (the longest a DNS name can be)."""
    return _is_internal(___domain, internal) if len(___domain) <= 253 else _is_internal.__wrapped__(___domain, internal)


@lru_cache(maxsize=8192)
def _is_internal(___domain: str, internal: tuple[str, ...]) -> bool:
    d = ___domain.lower()
    if d.startswith("["):     # an IPv6 literal: loopback, unique-local (fc00::/7), link-local (fe80::/10)
        return _IPV6_INTERNAL.match(d) is not None
    if d[-1:].isdigit() or d.startswith("0x"):
        d = ipv4_of(d) or d    # 2130706433, 0x7f.1 and 127.1 are 127.0.0.1
    if d in ("localhost",) or d.endswith(".local") or d.endswith(".internal") or d.endswith(".svc") or re.match(r"^(?:127\.|10\.|192\.168\.|172\.(?:1[6-9]|2\d|3[01])\.)", d):
        return True
    return any(d == i or d.endswith("." + i) for i in internal)


@dataclass(slots=True, eq=False)
class ActionFeatures:
    """What the gate understands of one call. Pure data; no raw secrets are kept apart from args.
    Treated as immutable (slotted rather than frozen: built on every request)."""

    tool: str
    tool_words: tuple[str, ...]
    verb: str
    verbs: frozenset[str]
    sensitivity: int
    destination: str              # "internal" | "external" | "none"
    external_domains: tuple[str, ...]
    emails: tuple[str, ...]
    urls: tuple[str, ...]
    paths: tuple[str, ...]
    amounts: tuple[float, ...]
    reversible: str               # "yes" | "partial" | "no"
    command_text: str             # concatenated command-like argument text (shell, SQL, code)
    strings: tuple[tuple[str, str], ...]   # (path, text) of every string leaf
    scalars: tuple[tuple[str, Any], ...]   # (path, value) of every number / boolean leaf
    text: str                     # canonical text for embedding

    @property
    def outbound(self) -> bool:
        """True when the call moves data, money or messages out of the agent's boundary."""
        return self.destination == "external" or bool(self.verbs & {"send", "pay"}) and bool(self.external_domains)


def verb_class(word: str) -> str | None:
    """The verb class of a word, trying simple inflections (`refunds`, `granted`, `paying`)."""
    w = word.lower()
    for cand in (w, w[:-1] if w.endswith("s") else None, w[:-2] if w.endswith(("es", "ed")) else None,
                 w[:-1] if w.endswith("ed") else None, w[:-3] if w.endswith("ing") else None, w[:-3] + "e" if w.endswith("ing") else None):
        if cand and cand in _VERB_WORDS:
            return _VERB_WORDS[cand]
    return None


# Words of a tool name that are nouns as often as verbs: `log_search`, `get_audit_log` and
# `log_lookup` read a log, `log_event` writes one. Such a word gives its verb class only when the
# name has no other verb word (the other word says what is done to the log).
_NOUN_VERBS = frozenset({"log"})


# Words that name a thing as often as an act: in `read_email`, `get_payment`, `list_roles`,
# `get_config` and `view_message` the read verb says what is done and the word names what is read.
# Such a word gives its class unless every other verb word of the name reads; `send_email`,
# `email_customer`, `add_roles` and `update_config` keep it.
_READ_NOUNS = frozenset({
    "payment", "payout", "transfer", "refund", "wire", "deposit", "purchase", "charge",
    "role", "roles", "permission", "permissions", "privilege", "privileges", "admin", "acl", "iam", "policy",
    "email", "mail", "post", "message", "sms", "text", "webhook", "slack", "dm", "invite",
    "command", "script", "shell", "terminal", "config", "setting", "settings", "schedule",
})


def _verb_of(words: tuple[str, ...] | list[str]) -> set[str]:
    found = set()
    nouns = False
    things = False
    for w in words:
        v = _VERB_WORDS.get(w)
        if v:
            if w in _NOUN_VERBS:
                nouns = True
            elif w in _READ_NOUNS:
                things = True
            else:
                found.add(v)
    if things and found != {"read"}:
        found.update(_VERB_WORDS[w] for w in words if w in _READ_NOUNS)
    if nouns and not found:
        found.update(_VERB_WORDS[w] for w in words if w in _NOUN_VERBS)
    return found


_SHELL_VERBS = (
    (re.compile(r"(?i)\b(?:rm|rmdir|shred|unlink|truncate|drop|delete|purge|destroy)\b"), "delete"),
    # (the gap stops at the next transfer command, which starts a match of its own: linear time on text that repeats them)
    (re.compile(r"(?i)\b(?:curl|wget|scp|rsync|nc|ncat|sftp|ftp|sendmail|mail|aws\s+s3\s+cp|gsutil\s+cp)\b"
                r"(?:(?!\b(?:curl|wget|scp|rsync|nc|ncat|sftp|ftp|sendmail|mail|aws\s+s3\s+cp|gsutil\s+cp)\b)[^|;])*"
                r"(?:-d\b|--data|-F\b|--upload-file|-T\b|@|\s\S+:\S*|https?://)"), "send"),
    (re.compile(r"(?i)\b(?:sudo|chown|chmod\s+[ugo]*\+s|usermod|useradd|passwd|grant|setfacl|visudo)\b"
                # a role bound to a principal: `kubectl create rolebinding … --user=`, `gcloud … add-iam-policy-binding --member=`,
                # `az role assignment create --assignee`
                r"|\b(?:create|apply)\s+(?:cluster)?rolebinding\b|\badd-iam-policy-binding\b|\brole\s+assignment\s+create\b"), "grant"),
    (re.compile(r"(?i)\b(?:insert|update|create|alter|mv|cp|tee|touch|mkdir|sed\s+-i|>>?)\b"), "write"),
    (re.compile(r"(?i)\b(?:select|cat|less|head|tail|grep|ls|find|git\s+(?:log|diff|status|show)|ps|top|df|du|kubectl\s+(?:get|describe|logs))\b"), "read"),
)


# Literal words one of which must occur (lower-cased) for each shell-verb pattern to match;
# one Aho-Corasick pass picks the patterns worth running.
_SHELL_TRIGGERS = {
    "delete": ("rm", "shred", "unlink", "truncate", "drop", "delete", "purge", "destroy"),
    "send": ("curl", "wget", "scp", "rsync", "nc", "ftp", "mail", "aws", "gsutil"),
    "grant": ("sudo", "chown", "chmod", "usermod", "useradd", "passwd", "grant", "setfacl", "visudo", "rolebinding",
              "add-iam-policy-binding", "assignment"),
    "write": ("insert", "update", "create", "alter", "mv", "cp", "tee", "touch", "mkdir", "sed", ">"),
    "read": ("select", "cat", "less", "head", "tail", "grep", "ls", "find", "git", "ps", "top", "df", "du", "kubectl"),
}


def _shell_automaton() -> ahocorasick.Automaton:
    by: dict[str, set[str]] = {}
    for verb, lits in _SHELL_TRIGGERS.items():
        for lit in lits:
            by.setdefault(lit, set()).add(verb)
    a = ahocorasick.Automaton()
    for lit, verbs in by.items():
        a.add_word(lit, frozenset(verbs))
    a.make_automaton()
    return a


_SHELL_AC = _shell_automaton()


def _shell_verbs(command_text: str, verbs: set[str]) -> None:
    """Add the verb classes the shell/SQL text performs (`rm` -> delete, `curl -d` -> send)."""
    woken: set[str] = set()
    # non-ASCII text is case-folded: the patterns' IGNORECASE reads `ſ` as `s`
    for _, vs in _SHELL_AC.iter(command_text.lower() if command_text.isascii() else command_text.casefold()):
        woken |= vs
    woken -= verbs
    if woken:
        for rx, v in _SHELL_VERBS:
            if v in woken and rx.search(command_text):
                verbs.add(v)


# A single `kubectl get|describe …` (or `oc`): what it exposes depends on the resource kind and
# the output format, not on words in resource names (`get cronjob platform-secrets-sync`). Only
# secrets printed with a value format (-o yaml|json|jsonpath|go-template, --template) reveal
# secret values; `get secret x` lists name, type and age, `describe secret x` key names and sizes.
_KUBE_READ = re.compile(
    r"^\s*(?:(?:kubectl|oc)\s+)?(?:(?:-n|--namespace|--context|--cluster|-A|--all-namespaces)(?:[= ]\S+)?\s+)*"
    r"(get|describe)\s+([A-Za-z0-9.,/_-]+)(.*)$", re.S)
_KUBE_VALUES = re.compile(r"(?:^|\s)(?:-o\s*=?\s*|--output[= ]\s*)(?:yaml|json|jsonpath|go-template|template|custom-columns)|(?:^|\s)--template\b")
_SHELL_CHAIN = re.compile(r"[|;&`\n]|\$\(")


# A single kubectl/oc command that manages workloads (roll out, scale, restart, cordon) or reads
# usage and events rather than data: the names of the objects it acts on (`deployment/pricing-svc
# -n payroll`) say nothing about the data exposed. `logs` does read data: there the words of the
# names count from the secret level up (a `payroll-api` log may carry salaries), not below.
_KUBE_MANAGE = re.compile(
    r"^\s*(?:(?:kubectl|oc)\s+)?(?:(?:-n|--namespace|--context|--cluster|-A|--all-namespaces)(?:[= ]\S+)?\s+)*"
    r"(rollout|scale|autoscale|top|logs|cordon|uncordon|drain|taint|label|annotate|restart|events|wait)\b")


def _kube_read_sensitivity(tool_words: tuple[str, ...], command: str) -> int | None:
    """Sensitivity of a single kubectl/oc read, or None when `command` is not one."""
    kube_tool = "kubectl" in tool_words or tool_words == ("oc",)
    if not (kube_tool or command.lstrip().startswith(("kubectl ", "oc "))) or _SHELL_CHAIN.search(command):
        return None
    m = _KUBE_READ.match(command)
    if m is None:
        mm = _KUBE_MANAGE.match(command)
        if mm is None:
            return None
        if mm.group(1) != "logs":
            return 1
        named = sensitivity_of_text(command[:500])
        return named if named >= 3 else 1
    verb, kinds, rest = m.group(1), m.group(2).lower(), m.group(3)
    if not any(k.split("/", 1)[0] in ("secret", "secrets") for k in kinds.split(",")):
        return 1
    return 3 if verb == "get" and _KUBE_VALUES.search(rest) else 1


def extract_features(
    tool: str,
    args: dict[str, Any],
    effect: ToolEffect | None = None,
    internal_domains: tuple[str, ...] = (),
    description: str = "",
) -> ActionFeatures:
    """Structured features of a call; declared `effect` fields win over inference."""
    words = _name_words(tool)
    declared = effect.verb if effect is not None and effect.verb else None
    verbs = {declared} if declared else _verb_of(words)
    leaves = _leaves(args)
    strings: list[tuple[str, str]] = []
    scalars: list[tuple[str, Any]] = []
    key_words: list[str] = []
    amounts: list[float] = []
    command_parts: list[str] = []
    dest_values: list[str] = []
    canon = [" ".join(words)]
    budget = _CANON_LIMIT - len(canon[0])
    for path, value in leaves:
        kw, amount_key, dest_key, command_key, key_text = _leaf_info(path) if len(path) <= _NAME_CACHE_LIMIT else _leaf_info.__wrapped__(path)
        key_words.extend(kw)
        if budget > 0:
            # the canonical text: tool words, then each key with the words of its value, bounded;
            # identifiers and numbers carry no meaning for the embedding and are left out
            chunk = f"{key_text} {_value_words(value)}".strip() if isinstance(value, str) else key_text
            canon.append(chunk)
            budget -= len(chunk) + 1
        if value is None:
            continue
        if isinstance(value, bool):
            scalars.append((path, value))
            continue
        if isinstance(value, (int, float)):
            scalars.append((path, value))
            if amount_key:
                amounts.append(float(value))
            continue
        text = str(value)
        strings.append((path, text))
        if amount_key and _NUM_STR.match(text):
            try:
                amounts.append(float(text.replace("$", "").replace(",", "").strip()))
            except ValueError:
                pass
        if command_key or (not dest_key and len(text) > 3 and ("|" in text or ";" in text or text.startswith(_COMMAND_STARTS))):
            command_parts.append(text)
        if dest_key:
            dest_values.append(text)
    command_text = "\n".join(command_parts)
    if command_text:
        _shell_verbs(command_text, verbs)
    all_text = "\n".join([t for _, t in strings])
    # addresses as a mail server or browser reads them (`evil\u3002com` is evil.com)
    host_text = all_text if all_text.isascii() else fold_host_text(all_text)
    emails: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    domains: list[str] = []
    if "@" in host_text:
        found = [(m.group(0).lower(), m.group(1).lower()) for m in EMAIL_RX.finditer(host_text)]
        emails = tuple(dict.fromkeys(e for e, _ in found))
        domains += [d for _, d in found]
    if "://" in host_text:
        found = [(m.group(0), m.group(1).lower()) for m in URL_RX.finditer(host_text)]
        urls = tuple(dict.fromkeys(u for u, _ in found))
        domains += [d for _, d in found]
    for v in dest_values:
        if "." in v:
            for m in _HOST_RX.finditer(v):
                domains.append(m.group(1).lower())
    paths = tuple(dict.fromkeys(m.group(1) for m in PATH_RX.finditer(all_text) if len(m.group(1)) > 1)) if "/" in all_text or "\\" in all_text else ()
    external = tuple(dict.fromkeys(d for d in domains if not is_internal(d, internal_domains))) if domains else ()

    if declared:
        verb = declared
    elif verbs:
        verb = min(verbs, key=_VERB_PRIORITY.__getitem__)
    else:
        verb = "other"
    if effect is not None and effect.destination:
        destination = effect.destination
        if destination == "internal" and external and verbs & {"send", "pay"}:
            destination = "external"
    elif external and (verbs & {"send", "pay", "execute", "write"} or dest_values):
        destination = "external"
    elif domains or verbs & {"send", "pay"}:
        destination = "internal"
    else:
        destination = "none"

    keys = tuple(dict.fromkeys(key_words))
    if len(tool) <= _NAME_CACHE_LIMIT and sum(map(len, keys)) <= 4 * _NAME_CACHE_LIMIT:
        sens = _static_sensitivity(words, keys, description)
    else:       # a long name or many long keys: read afresh (the cache holds only short ones)
        sens = _static_sensitivity.__wrapped__(words, keys, description)
    if (paths or command_text) and sens < 4:
        kube = _kube_read_sensitivity(words, command_text) if command_text else None
        if kube is None:
            sens = max(sens, sensitivity_of_text(" ".join(paths) + " " + command_text[:500]))
        else:
            sens = max(sens, kube, sensitivity_of_text(" ".join(paths)) if paths else 0)
    if effect is not None and effect.sensitivity:
        if effect.sensitivity == "none" and verbs <= READ_ONLY_VERBS:
            # a read of what the policy declares public (web search, public docs) exposes nothing,
            # whatever its query words are about ("HIPAA breach notification rule")
            sens = 0
        else:
            sens = max(sens, SENSITIVITY.get(effect.sensitivity, 0))
    if effect is not None and effect.reversible:
        reversible = effect.reversible
    elif verbs & IRREVERSIBLE_VERBS:
        reversible = "no"
    elif verbs & {"write", "configure", "execute"}:
        reversible = "partial"
    else:
        reversible = "yes"

    text = " ".join(canon)[:_CANON_LIMIT]
    return ActionFeatures(
        tool=tool,
        tool_words=words,
        verb=verb,
        verbs=frozenset(verbs) if verbs else frozenset({"other"}),
        sensitivity=sens,
        destination=destination,
        external_domains=external,
        emails=emails,
        urls=urls,
        paths=paths,
        amounts=tuple(amounts),
        reversible=reversible,
        command_text=command_text,
        strings=tuple(strings),
        scalars=tuple(scalars),
        text=text,
    )
