"""Allowed calls awaiting their /v1/observe report, and how an observed call is counted.

A call the gate allows (ALLOW, or REWRITE as rewritten; in dry-run every call, as proposed)
is counted when it is checked: one step, and its quotas. The session remembers it as pending
until the caller reports it. `/v1/observe` then counts the reported call once:

* with a `decision_id` that is pending and whose allowed call has the digest of the reported
  one: already counted (`matched`); it stops being pending;
* without a `decision_id`, when a pending call has the reported call's digest: the same (the
  oldest such is taken);
* otherwise the reported call is a new step, quotas included (`new`). A given `decision_id`
  that did not match says why: `unknown_decision` (never issued, issued for a blocked call,
  already reported, or pushed out of the bounded list), `tool_differs` or `args_differ`.

A made-up, reused or mismatched id therefore costs the caller a step, never a free call.

    >>> snap = remember(SessionSnapshot(), "d1", "pay", {"amount": 40})
    >>> match(snap, None, "pay", {"amount": 40.0})[0]
    ObserveMatch(counted='matched', mismatch=None)
    >>> match(snap, "d1", "pay", {"amount": 400})[0]
    ObserveMatch(counted='new', mismatch='args_differ')
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import orjson

from gate.core.session import SessionSnapshot

__all__ = ["MATCHED", "MISMATCH_CODES", "PENDING_CAP", "ObserveMatch", "call_digest", "match", "remember"]

# Allowed calls a session remembers until they are observed: the most recent ones. A call
# pushed out (a caller that checks more than this many calls before reporting any, or never
# reports some) is counted again if it is reported later: an over-count, never an under-count.
PENDING_CAP = 16

MISMATCH_CODES = ("unknown_decision", "tool_differs", "args_differ")

_SORTED = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


@dataclass(frozen=True)
class ObserveMatch:
    """How an observed call was counted: `matched` (the check already counted it) or `new`;
    `mismatch` is the reason a given decision_id did not match (None otherwise)."""

    counted: str
    mismatch: str | None = None


MATCHED = ObserveMatch("matched")
_NEW = ObserveMatch("new")
_NEW_BY_CODE = {code: ObserveMatch("new", code) for code in MISMATCH_CODES}


def _canon(v: Any) -> Any:
    """`v` with every integral float as an int: JSON has one number type, and a caller that
    parses and re-serializes the allowed arguments may turn 100 into 100.0 or back."""
    if isinstance(v, float):
        return int(v) if v.is_integer() else v     # NaN and infinities are not integral: kept
    if isinstance(v, dict):
        return {k: _canon(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_canon(x) for x in v]
    return v


def call_digest(tool: str, args: dict[str, Any]) -> str:
    """A digest of the call as canonical JSON: key order does not count, numbers count by value
    (100 == 100.0), lists keep their order, strings are compared exactly. 128 bits of SHA-256.
    (NaN and infinities, which JSON cannot carry, serialize as null.)"""
    canon = [tool, _canon(args)]
    try:
        raw = orjson.dumps(canon, option=_SORTED)
    except TypeError:
        # what orjson cannot write (an integer beyond 64 bits, a lone surrogate): the stdlib,
        # marked so its bytes never equal orjson's for another value
        raw = b"\x01" + json.dumps(canon, sort_keys=True, ensure_ascii=True, separators=(",", ":"),
                                   default=repr).encode("ascii")
    return hashlib.sha256(raw).hexdigest()[:32]


def remember(snap: SessionSnapshot, decision_id: str, tool: str, args: dict[str, Any]) -> SessionSnapshot:
    """`snap` with the allowed call `decision_id` pending (the oldest dropped past `PENDING_CAP`)."""
    pending = snap.pending + ((decision_id, tool, call_digest(tool, args)),)
    return snap.evolve(pending=pending[-PENDING_CAP:])


def match(snap: SessionSnapshot, decision_id: Any, tool: str, args: dict[str, Any]) -> tuple[ObserveMatch, SessionSnapshot]:
    """How the observed call (`tool`, `args`, reported with `decision_id` or None) is counted,
    and the session with the matched call no longer pending. An id that is not a non-empty
    string is taken as given and unknown (it cannot match)."""
    given = decision_id is not None and decision_id != ""
    if not snap.pending:
        return (_NEW_BY_CODE["unknown_decision"] if given else _NEW), snap
    digest = call_digest(tool, args)
    for i, (pid, ptool, pdigest) in enumerate(snap.pending):
        if given and pid != decision_id:
            continue
        if pdigest == digest:
            return MATCHED, snap.evolve(pending=snap.pending[:i] + snap.pending[i + 1:])
        if given:
            return _NEW_BY_CODE["tool_differs" if ptool != tool else "args_differ"], snap
    return (_NEW_BY_CODE["unknown_decision"] if given else _NEW), snap
