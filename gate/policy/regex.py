"""Regular expressions written by policy authors, run in time linear in the text.

A policy's regexes (a constraint's `pattern` and `pattern_deny`, a deny rule's `matches`,
`unless_task` and `result_matches`) run on text an agent or a tool result supplies. Python's
`re` backtracks: an innocent-looking `rm\\s+-\\w*r\\w*\\s+(/|~)(\\s|/?$)` took 18 s on a 200 KB
argument (`bench/adversarial_inputs.py`), and the gate decides inline, so one such call would
stall a served gate. gate compiles each policy regex with RE2 (google-re2), whose matching
time is linear in the text whatever the pattern.

What changes for a policy author (the README's "Policy regexes" says the same):
- RE2 has no lookaround (`(?=…)`, `(?!…)`, `(?<=…)`), backreferences (`\\1`, `(?P=name)`),
  atomic groups or possessive quantifiers. A pattern that needs them still runs, on Python's
  `re`, and `gate policy lint` names it (`backtracking(pattern)` says why).
- `\\d`, `\\w`, `\\s` (and `\\D`, `\\W`, `\\S`), `$` (the end, or before a newline that
  ends the text) and `\\Z` keep their Python meaning: they are translated for RE2
  (`translate`), with Unicode classes as Python's. `(?i)` folds case over Unicode in both.
- `\\b` and `\\B` are the one difference: RE2's word boundary knows ASCII letters only, so it
  also sees a boundary between `é` and `s` in `éssn` (a deny pattern `\\bssn\\b` matches there,
  Python's does not).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Iterator, Protocol, Sequence

try:
    import re2 as _re2
except ImportError:            # pragma: no cover - google-re2 is a pinned dependency
    _re2 = None


class PolicyPattern(Protocol):
    """The part of `re.Pattern` gate uses (RE2's compiled patterns have the same methods)."""

    pattern: str

    def search(self, text: str) -> Any: ...

    def finditer(self, text: str) -> Iterator[Any]: ...


def _options() -> Any:
    opts = _re2.Options()
    opts.log_errors = False        # an unsupported pattern is our fallback, not an error on stderr
    opts.max_mem = 32 << 20        # RE2's default (8 MiB) refuses some large alternations
    return opts


_OPTIONS = _options() if _re2 is not None else None
# a scoped or global multi-line flag: `$` then means "before any newline" in both engines
_MULTILINE_FLAG = re.compile(r"\(\?[a-zA-Z]*m[a-zA-Z]*(?:-[a-zA-Z]*)?[:)]")


# Python's classes (str patterns), spelled for RE2: `\w` is what `str.isalnum()` accepts plus
# `_`, `\d` a Unicode decimal digit, `\s` what `str.isspace()` accepts
_WORD = r"\p{L}\p{N}_"
_SPACE = r"\t-\r\x1c-\x20\x85\p{Z}"
_IN_CLASS = {"d": r"\p{Nd}", "D": r"\P{Nd}", "w": _WORD, "s": _SPACE}
_HEX = frozenset("0123456789abcdefABCDEF")
_OPEN_MIN = re.compile(r"\{,(\d+)\}")
_OUTSIDE = {"d": r"\p{Nd}", "D": r"\P{Nd}", "w": f"[{_WORD}]", "W": f"[^{_WORD}]",
            "s": f"[{_SPACE}]", "S": f"[^{_SPACE}]", "Z": r"\z"}


def translate(pattern: str) -> str:
    r"""The pattern in RE2 syntax with Python's meaning. Outside a character class: `$` (when
    the pattern sets no multi-line flag) matches at the end or before a final newline, as
    `(?:\n?\z)` does for a search (a redacted match then takes that newline with it); `\Z` is RE2's `\z`; `\d \w \s \D \W \S` become their
    Unicode classes; `{,n}` is `{0,n}`. Inside a class `\d \w \s \D` do too (`\W` and `\S`
    stay ASCII there: a class cannot hold a negated set) and a `[` is a literal (RE2 would read
    `[:alpha:]`). `\uXXXX` and `\UXXXXXXXX` become `\x{…}`. Everything else is left as written."""
    if "$" not in pattern and "\\" not in pattern and "[" not in pattern and "{," not in pattern:
        return pattern
    dollar = "$" if _MULTILINE_FLAG.search(pattern) else r"(?:\n?\z)"
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            width = 4 if nxt == "u" else 8 if nxt == "U" else 0
            code = pattern[i + 2:i + 2 + width]
            if width and len(code) == width and all(h in _HEX for h in code):
                out.append(f"\\x{{{code}}}")      # `\u00e9` is RE2's `\x{00e9}`
                i += 2 + width
                continue
            out.append((_IN_CLASS if in_class else _OUTSIDE).get(nxt, c + nxt))
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
            out.append("\\[" if c == "[" else c)   # Python has no `[:alpha:]`: a `[` in a class is a `[`
            i += 1
            continue
        if c == "{" and pattern.startswith("{,", i):
            m = _OPEN_MIN.match(pattern, i)
            if m is not None:                        # Python's `{,3}` is `{0,3}`; RE2 reads it literally
                out.append("{0," + m.group(1) + "}")
                i = m.end()
                continue
        if c == "[":
            in_class = True
            out.append(c)
            i += 1
            # a `]` (after an optional `^`) right after the opening bracket is a literal
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":
                out.append("]")
                i += 1
            continue
        out.append(dollar if c == "$" else c)
        i += 1
    return "".join(out)


def backtracking(pattern: str) -> str | None:
    """Why the pattern cannot run on RE2 (and so runs on Python's backtracking `re`), or None
    when it runs in linear time. The pattern must already compile with `re`."""
    if _re2 is None:
        return "google-re2 is not installed"
    try:
        _re2.compile(translate(pattern), _OPTIONS)
    except _re2.error as exc:
        msg = exc.args[0] if exc.args else exc
        return msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)
    return None


@lru_cache(maxsize=2048)
def compile_pattern(pattern: str) -> PolicyPattern:
    """A policy regex compiled for matching: RE2 where it can run the pattern, else `re`.
    Raises `re.error` for a pattern Python cannot compile (lint refuses those first)."""
    compiled = re.compile(pattern)     # the policy's syntax is checked by Python's rules
    if _re2 is not None:
        try:
            return _re2.compile(translate(pattern), _OPTIONS)
        except _re2.error:
            pass
    return compiled


def policy_regexes(policy: Any) -> list[tuple[str, str]]:
    """Every regex an `AgentPolicy` declares, as (where, pattern), `where` in the policy's
    own terms (`tools[send_email].constraints[0].pattern_deny[1]`, `deny[2].when.sql`)."""
    out: list[tuple[str, str]] = []
    for tool in policy.tools or ():
        for ci, con in enumerate(tool.constraints):
            at = f"tools[{tool.name}].constraints[{ci}]"
            if con.pattern is not None:
                out.append((f"{at}.pattern", con.pattern))
            out.extend((f"{at}.pattern_deny[{pi}]", p) for pi, p in enumerate(con.pattern_deny or ()))

    def conditions(at: str, when: Any) -> None:
        out.extend((f"{at}.when.{arg}", val) for arg, op, val in when if op == "matches" and isinstance(val, str))

    for ri, rule in enumerate(policy.deny):
        conditions(f"deny[{ri}]", rule.when)
        if rule.unless_task is not None:
            out.append((f"deny[{ri}].unless_task", rule.unless_task))
        for key in ("after", "unless_after"):
            step = getattr(rule, key)
            if step is not None:
                conditions(f"deny[{ri}].{key}", step.when)
                if step.result_matches is not None:
                    out.append((f"deny[{ri}].{key}.result_matches", step.result_matches))
    for qi, quota in enumerate(getattr(policy, "quotas", ()) or ()):
        conditions(f"quotas[{qi}]", quota.when)
    return out


def backtracking_report(policy: Any) -> list[str]:
    """One line per policy regex that runs on Python's backtracking engine, naming where it
    is and why (for `gate policy lint`)."""
    lines = []
    for where, pattern in policy_regexes(policy):
        why = backtracking(pattern)
        if why is not None:
            lines.append(f"{where}: runs on Python's backtracking engine ({why}); its time can grow "
                         "faster than linearly with the text: bound the argument (max_length) or rewrite "
                         "the pattern without lookaround or backreferences")
    return lines


# An RE2 set runs on its DFA alone: on a long text whose DFA outgrows its memory it answers "no
# match" instead of falling back (each single pattern falls back to RE2's NFA). Texts longer
# than this are scanned pattern by pattern, still in linear time.
_SET_TEXT_MAX = 4096


class PatternSet:
    """A constraint's `pattern_deny` list, asked in one pass whether any pattern matches (an
    RE2 set: about 0.6 µs for six patterns on a short argument, where six separate scans take
    about 9 µs in either engine). Only when one does are its matches collected (redaction)."""

    __slots__ = ("patterns", "_set", "_linear", "_rest")

    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns: tuple[PolicyPattern, ...] = tuple(compile_pattern(p) for p in patterns)
        linear = tuple(i for i, rx in enumerate(self.patterns) if not isinstance(rx, re.Pattern))
        self._set: Any = None
        if _re2 is not None and len(linear) > 1:
            rset = _re2.Set.SearchSet(_OPTIONS)
            try:
                for i in linear:
                    rset.Add(translate(patterns[i]))
                rset.Compile()
            except _re2.error:
                rset = None
            self._set = rset
        self._linear = linear if self._set is not None else ()
        self._rest = tuple(i for i in range(len(self.patterns)) if i not in self._linear)

    def __len__(self) -> int:
        return len(self.patterns)

    def matches(self, text: str) -> list[Any]:
        """Every match of every pattern, pattern by pattern in the policy's order: what
        `[m for rx in patterns for m in rx.finditer(text)]` gives."""
        if self._set is None or len(text) > _SET_TEXT_MAX:
            which: Sequence[int] = range(len(self.patterns))
        else:
            hit = self._set.Match(text)
            which = sorted(list(self._rest) + [self._linear[k] for k in hit]) if hit else self._rest
        return [m for i in which for m in self.patterns[i].finditer(text)]
