"""The identity reference frame: an agent's declared identity as vectors, and the shared
library of harmful action archetypes and ordinary-work anchors they are compared with.

Built once at policy load (compile once, evaluate many). Searches on the hot path are a
matrix-vector product: at the sizes a frame has (tens of rows, a few hundred archetypes)
numpy beats FAISS's per-call overhead on this machine (bench/vector_search.py measures
both); the FAISS index is built for every frame too and used above `FAISS_MIN_ROWS`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import faiss
import numpy as np

__all__ = ["VectorIndex", "IdentityFrame", "split_sentences", "split_identity", "FAISS_MIN_ROWS", "MoneyLimit", "money_limits", "stems",
           "NamedProhibition", "named_prohibitions"]

# Measured crossover (bench/vector_search.py): below ~1,000 rows numpy is as fast or faster.
FAISS_MIN_ROWS = 1024

_SENT = re.compile(r"(?<=[.!?;])\s+")
_FULL_STOP = re.compile(r"(?<=[.!?])\s+")


_BULLET = re.compile(r"\n\s*\n|\n(?=\s*(?:[-*\u2022]|\d+[.)])\s)")


def split_sentences(text: str, separators: re.Pattern[str] | None = None) -> list[str]:
    """Identity text split into statements; each becomes one row of the frame. Wrapped
    lines are joined; blank lines and list bullets start a new statement."""
    out: list[str] = []
    for block in _BULLET.split(text):
        joined = " ".join(block.split())
        out.extend(s.strip(" -*\u2022\t") for s in (separators or _SENT).split(joined))
    return [s for s in out if len(s) > 3]


_NEGATION = re.compile(
    r"(?i)\b(?:never|must\s+not|mustn't|may\s+not|does\s+not|doesn't|do\s+not|don't|cannot|can't|will\s+not|won't|"
    r"is\s+not\s+allowed|not\s+allowed|forbidden|prohibited|no\s+longer)\b")
_CLAUSE = re.compile(r"\s*[;,]\s*")
_LEAD = re.compile(r"(?i)^(?:(?:and|or|nor|also|it|the agent)\s+)*(?:never\s+|not\s+)?")


def _verb_word(word: str) -> bool:
    """Whether `word` (maybe inflected) is an action verb of the lexicon."""
    from gate.core.actions import verb_class

    return verb_class(word) is not None


def split_identity(text: str) -> tuple[list[str], list[str]]:
    """(affirmative statements, prohibited actions) of an identity text.

    A statement that says what the agent must never do is not evidence that an action
    resembling it is in scope: it becomes prohibition clauses ("grant admin roles",
    "change bank or payment details") of a frame of its own.
    """
    affirmative: list[str] = []
    prohibited: list[str] = []
    for sentence in split_sentences(text, _FULL_STOP):
        m = _NEGATION.search(sentence)
        if m is None:
            affirmative.extend(x for x in (p.strip() for p in sentence.split(";")) if len(x) > 3)
            continue
        head = sentence[: m.start()].strip()
        if len(head.split()) >= 4 and not head.endswith(":"):
            affirmative.append(head)
        rest = sentence[m.end():]
        rest = rest.split(":", 1)[1] if ":" in rest[:40] else rest
        clauses: list[str] = []
        for part in _CLAUSE.split(rest):
            part = _LEAD.sub("", part.strip(" .:-"))
            if not part:
                continue
            first = part.split()[0].lower()
            starts_action = _verb_word(first)
            if clauses and not starts_action:
                clauses[-1] = f"{clauses[-1]}, {part}"
            else:
                clauses.append(part)
        prohibited.extend(c for c in clauses if len(c.split()) >= 2)
    return affirmative, prohibited


class VectorIndex:
    """Inner-product index over L2-normalised rows, with labels.

    >>> idx = VectorIndex(np.eye(2, dtype=np.float32), ("a", "b"))
    >>> idx.best(np.array([0.0, 1.0], dtype=np.float32))
    (1.0, 1)
    """

    __slots__ = ("matrix", "labels", "_faiss")

    def __init__(self, matrix: np.ndarray, labels: tuple[str, ...]) -> None:
        if matrix.ndim != 2 or matrix.shape[0] != len(labels):
            raise ValueError("matrix rows and labels must match")
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        self.labels = labels
        self._faiss: faiss.IndexFlatIP | None = None
        if matrix.shape[0] >= FAISS_MIN_ROWS:
            self._faiss = faiss.IndexFlatIP(matrix.shape[1])
            self._faiss.add(self.matrix)

    def __len__(self) -> int:
        return self.matrix.shape[0]

    def scores(self, vec: np.ndarray) -> np.ndarray:
        return self.matrix @ vec

    def best(self, vec: np.ndarray) -> tuple[float, int]:
        """(highest cosine, row) — (-1.0, -1) for an empty index."""
        n = self.matrix.shape[0]
        if n == 0:
            return -1.0, -1
        if self._faiss is not None:
            d, i = self._faiss.search(vec.reshape(1, -1), 1)
            return float(d[0, 0]), int(i[0, 0])
        s = self.matrix.dot(vec)   # ndarray.dot: less dispatch than @ for one vector
        i = int(s.argmax())
        return float(s[i]), i


@dataclass(frozen=True)
class IdentityFrame:
    """One agent's reference frame: identity statements, purposes and tool descriptions."""

    index: VectorIndex
    prohibited: VectorIndex | None = None   # what the identity says the agent must never do
    # the identity rows, then the prohibition rows, in one matrix: a call is scored against
    # both with one product (None when either index searches through FAISS)
    joint: np.ndarray | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.joint is None and len(self.index) and self.index._faiss is None and (
                self.prohibited is None or self.prohibited._faiss is None):
            rows = [self.index.matrix] if self.prohibited is None else [self.index.matrix, self.prohibited.matrix]
            joint = np.ascontiguousarray(np.vstack(rows), dtype=np.float32)
            object.__setattr__(self, "joint", joint)
            # the two indexes read their rows out of the joint matrix: one copy in memory
            k = len(self.index)
            self.index.matrix = joint[:k]
            if self.prohibited is not None:
                self.prohibited.matrix = joint[k:]


# ---- money limits the identity states ("issues refunds up to 100 USD", "up to 2,500 USD per order")

_MONEY = r"(?:USD|EUR|GBP|CHF|CAD|AUD|US\$|\$|€|£)"
_CURRENCY_OF = {"$": "USD", "us$": "USD", "usd": "USD", "dollar": "USD", "dollars": "USD", "€": "EUR", "eur": "EUR",
                "euro": "EUR", "euros": "EUR", "£": "GBP", "gbp": "GBP", "pound": "GBP", "pounds": "GBP",
                "chf": "CHF", "cad": "CAD", "aud": "AUD"}
_LIMIT_RX = re.compile(
    r"(?i)\b(?:up\s+to|at\s+most|no\s+more\s+than|not\s+more\s+than|not\s+exceeding|a\s+maximum\s+of|capped\s+at|limited\s+to)\s+"
    rf"(?:(?P<c1>{_MONEY})\s?)?(?P<num>\d{{1,3}}(?:,\d{{3}})+|\d+)(?P<frac>\.\d+)?\s?(?P<k>[kK]\b)?\s*"
    rf"(?P<c2>{_MONEY}|dollars?|euros?|pounds?)?(?P<per>\s+(?:per|each|a)\s+[a-z-]+|\s+each)?")
_CLAUSE_START = re.compile(r"[,.;:()\n]")
_STEM_SKIP = frozenset(
    "the and for each per with from that this its their back into onto over under only any all also can may will "
    "it issue make send create process apply handle place give take run use get set new up out to of on in a an "
    "by at as or is are be".split())


def stems(text: str) -> frozenset[str]:
    """Content words of `text` (tool names split at `_`, `:`, `.`, `-` and camel case), plural
    endings dropped: what a limit's wording and a tool's name are compared by."""
    words = re.findall(r"[a-z]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", text).lower())
    out = set()
    for w in words:
        if w.endswith("ies") and len(w) > 4:
            w = w[:-3] + "y"
        elif w.endswith("s") and not w.endswith("ss") and len(w) > 3:
            w = w[:-1]
        if len(w) >= 3 and w not in _STEM_SKIP:
            out.add(w)
    return frozenset(out)


@dataclass(frozen=True)
class MoneyLimit:
    """A cap on a money amount the identity text states, and what it is about."""

    amount: float
    currency: str
    about: frozenset[str]   # stems of the clause that states it ("refunds", "per order")
    phrase: str             # the clause, for the reason ("issues refunds up to 100 USD")


@dataclass(frozen=True)
class NamedProhibition:
    """A prohibition that names what it is about by a list (`add anyone to the admins, finance,
    payroll or security groups`): the verb, the listed names and the noun they qualify."""

    verb: str
    names: frozenset[str]   # lower case, a trailing plural `s` off
    noun: str               # singular, lower case
    phrase: str


_NAMED_LIST = re.compile(
    r"(?i)^(?P<verb>[a-z]+)\s+(?:(?:anyone|anybody|someone|people|users?|itself|themselves|others)\s+)?"
    r"(?:(?:to|from|into|in|on|as)\s+)?(?:the\s+|any\s+)?"
    r"(?P<list>[\w-]+(?:\s*,\s*[\w-]+)*\s*,?\s+(?:or|and)\s+[\w-]+)\s+(?P<noun>[a-z]{3,})\b")


def _singular(word: str) -> str:
    """`groups` -> group, `branches` -> branch, `pushes` -> push, `admins` -> admin (also a verb's third person)."""
    w = word.lower()
    if len(w) > 4 and w.endswith("es") and w[:-2].endswith(("sh", "ch", "x", "ss")):
        return w[:-2]
    return w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w


# What cannot be the noun a list of names qualifies, nor one of the names.
_NOT_A_NOUN = frozenset("without with and or nor in on to for from that which unless except than when where while its their".split())
_NOT_A_NAME = frozenset("anyone anybody someone somebody itself themselves others any all".split())


def named_prohibitions(clauses: Iterable[str]) -> tuple[NamedProhibition, ...]:
    """Prohibition clauses of the form VERB [anyone] [to the] A, B or C NOUNs (at least two
    names): "grant admin, super-admin or owner roles", "add anyone to the admins, finance,
    payroll or security groups"."""
    out: list[NamedProhibition] = []
    for clause in clauses:
        m = _NAMED_LIST.match(clause.strip())
        if m is None:
            continue
        names = frozenset(_singular(n) for n in re.split(r"\s*,\s*|\s+(?:or|and)\s+", m.group("list")) if n)
        noun = m.group("noun").lower()
        if len(names) >= 2 and noun not in _NOT_A_NOUN and names.isdisjoint(_NOT_A_NAME):
            out.append(NamedProhibition(_singular(m.group("verb")), names, _singular(noun), clause.strip()))
    return tuple(out)


def money_limits(text: str) -> tuple[MoneyLimit, ...]:
    """The money caps an identity states: an amount with a currency after "up to", "at most",
    "no more than", … The clause before it (back to the last comma or stop) and a trailing
    "per order" / "each" say what it caps. A figure without a currency is not read as money."""
    flat = " ".join(text.split())
    out = []
    for m in _LIMIT_RX.finditer(flat):
        cur = m.group("c1") or m.group("c2")
        if not cur:
            continue
        amount = float(m.group("num").replace(",", "") + (m.group("frac") or "")) * (1000 if m.group("k") else 1)
        start = max((c.end() for c in _CLAUSE_START.finditer(flat, max(0, m.start() - 120), m.start())), default=max(0, m.start() - 120))
        clause = flat[start:m.start()] + (m.group("per") or "")
        about = stems(clause)
        if about:
            out.append(MoneyLimit(amount, _CURRENCY_OF.get(cur.lower(), cur.upper()), about,
                                  " ".join((flat[start:m.end()]).split())[:120]))
    return tuple(out)
