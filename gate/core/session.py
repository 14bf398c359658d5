"""Session state as pure data: the task imprint, the monotone risk state and provenance.

A `SessionSnapshot` is immutable; the core returns a new one for every allowed or observed
call. Stores (memory, Redis) persist snapshots as JSON via `to_json`/`from_json`.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import orjson

from gate.core.actions import EMAIL_RX, URL_RX, ActionFeatures, flatten_args
from gate.core.detectors import find_pii, find_secrets

__all__ = [
    "SessionSnapshot",
    "RISK_LEVELS",
    "ESCALATION_LEVELS",
    "escalation_of",
    "reversibility_of",
    "result_provenance",
    "secret_fingerprint",
    "destination_tokens",
]

RISK_LEVELS = ("SAFE", "MILD", "ELEVATED", "CRITICAL", "VIOLATED")
ESCALATION_LEVELS = ("read_only", "write", "execute", "network")
_REVERSIBILITY = {"yes": 0, "partial": 1, "no": 2}

# Account-like identifiers that can be a payment or messaging destination.
_ACCOUNT_RX = re.compile(r"\b(?:[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?|\d{8,17})\b")
_PHONE_RX = re.compile(r"\+\d[\d ()-]{7,}\d")


def escalation_of(f: ActionFeatures) -> int:
    """0 read-only, 1 write, 2 code execution, 3 network (data leaves the boundary)."""
    if f.destination == "external" or f.verbs & {"send", "pay"} and f.external_domains:
        return 3
    if f.verbs & {"execute", "grant"}:
        return 2
    if f.verbs & {"write", "delete", "configure", "send", "pay"}:
        return 1
    return 0


def reversibility_of(f: ActionFeatures) -> int:
    return _REVERSIBILITY.get(f.reversible, 1)


def secret_fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:16]


def destination_tokens(text: str) -> set[str]:
    """Destinations named in free text: e-mail addresses, URL hosts, account numbers, phones."""
    out: set[str] = set()
    for m in EMAIL_RX.finditer(text):
        out.add(m.group(0).lower())
        out.add(m.group(1).lower())
    for m in URL_RX.finditer(text):
        out.add(m.group(1).lower())
    for m in _ACCOUNT_RX.finditer(text):
        out.add(m.group(0).replace(" ", "").upper())
    for m in _PHONE_RX.finditer(text):
        out.add(re.sub(r"\D", "", m.group(0)))
    return out


_PROSE_MIN_WORDS = 6


def result_provenance(result: Any) -> tuple[set[str], set[str], int]:
    """(tainted destinations, secret fingerprints, exposure level) of a tool result.

    Destinations inside prose (fetched pages, e-mail bodies, documents, comments: any string
    of several words) are tainted: that is where injected instructions live. A short
    structured field (`customer_email: jo@x.org` from a system of record) is not.
    """
    if isinstance(result, (dict, list)):
        leaves = [v for _, v in flatten_args(result) if isinstance(v, str)]
    elif result is None:
        leaves = []
    else:
        leaves = [str(result)]
    dests: set[str] = set()
    secrets: set[str] = set()
    pii = False
    for text in leaves:
        if len(text.split()) >= _PROSE_MIN_WORDS:
            dests |= destination_tokens(text)
        secrets |= {secret_fingerprint(text[f.start:f.end]) for f in find_secrets(text)}
        pii = pii or bool(find_pii(text))
    exposure = max(3 if secrets else 0, 4 if pii else 0)
    return dests, secrets, exposure


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
    secrets: frozenset[str] = frozenset()     # fingerprints of secrets seen in results
    blocks: int = 0

    def to_json(self) -> bytes:
        d: dict[str, Any] = {
            "agent": self.agent, "session": self.session, "task": self.task, "steps": self.steps,
            "exposure": self.exposure, "escalation": self.escalation, "reversibility": self.reversibility,
            "risk_level": self.risk_level, "drift": self.drift, "tainted": sorted(self.tainted),
            "named": sorted(self.named), "secrets": sorted(self.secrets), "blocks": self.blocks,
        }
        if self.task_vec is not None:
            d["task_vec"] = base64.b64encode(np.asarray(self.task_vec, dtype=np.float32).tobytes()).decode()
        return orjson.dumps(d)

    @classmethod
    def from_json(cls, raw: bytes | str) -> SessionSnapshot:
        d = orjson.loads(raw)
        vec = d.pop("task_vec", None)
        for key in ("tainted", "named", "secrets"):
            d[key] = frozenset(d.get(key) or ())
        snap = cls(**d)
        if vec is not None:
            snap = replace(snap, task_vec=np.frombuffer(base64.b64decode(vec), dtype=np.float32).copy())
        return snap
