"""Decision log: one JSON line per decision, written off the hot path.

Records are masked before they are serialised: secrets and personal data in arguments are
replaced by typed markers, and the original arguments are kept only as a digest. Each record
holds what a replay needs: the policy revision, the model, the session state before the call,
the (masked) request, and the decision with its reason codes. The queue is bounded; a full
queue drops the record and counts the drop, it never blocks a decision.
"""

from __future__ import annotations

import hashlib
import collections
import threading
from pathlib import Path
from typing import Any, Callable, Protocol

import orjson

from gate.core.detectors import find_pii, find_secrets, redact

__all__ = ["AuditSink", "FileAuditSink", "NullAuditSink", "mask_args", "args_digest", "finalize",
           "PENDING_ARGS", "PENDING_EXECUTED", "PENDING_BEFORE"]

# Keys of a queued record that `finalize` turns into its logged form off the request path.
PENDING_ARGS = "_args_json"
PENDING_EXECUTED = "_executed_json"
PENDING_BEFORE = "_session_before"


def args_digest(args: Any) -> str:
    return hashlib.sha256(orjson.dumps(args, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def mask_args(args: Any) -> tuple[Any, bool]:
    """(args with secrets and personal data redacted, whether anything was masked)."""
    masked = False

    def walk(v: Any) -> Any:
        nonlocal masked
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, str):
            found = find_secrets(v) + find_pii(v)
            if found:
                masked = True
                return redact(v, found)
        return v

    return walk(args), masked


def finalize(record: dict[str, Any]) -> dict[str, Any]:
    """The logged form of a queued record: arguments masked (secrets and personal data
    redacted) with a digest of the originals, and the session state before the call."""
    raw = record.pop(PENDING_ARGS, None)
    executed = record.pop(PENDING_EXECUTED, None)
    before = record.pop(PENDING_BEFORE, None)
    if raw is not None:
        args = orjson.loads(raw)
        masked, was_masked = mask_args(args)
        record["action"] = {"tool": record.pop("tool", None), "args": masked}
        record["args_digest"] = args_digest(args)
        record["masked"] = was_masked
        record["executed_args_digest"] = args_digest(orjson.loads(executed)) if executed is not None else record["args_digest"]
    if before is not None:
        summary = orjson.loads(before.to_json())
        summary.pop("task_vec", None)
        summary.pop("pending", None)    # calls awaiting /v1/observe: bookkeeping no decision reads
        record["session_before"] = summary
    elif "session_before" not in record:
        record["session_before"] = None
    return record


class AuditSink(Protocol):
    def write(self, record: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class NullAuditSink:
    dropped = 0

    def write(self, record: dict[str, Any]) -> None:
        return None

    def close(self) -> None:
        return None


class FileAuditSink:
    """Appends JSON lines to a file from a background thread; bounded, counted drops."""

    def __init__(self, path: Path, maxsize: int = 10_000, on_drop: Callable[[], None] | None = None,
                 interval_s: float = 0.05) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._buf: collections.deque[dict[str, Any]] = collections.deque()   # append/popleft are atomic
        self._maxsize = maxsize
        self._interval = interval_s
        self._stop = threading.Event()
        self._on_drop = on_drop
        self.dropped = 0
        self.written = 0
        self._fh = self.path.open("ab")
        self._thread = threading.Thread(target=self._run, name="gate-audit", daemon=True)
        self._thread.start()

    def write(self, record: dict[str, Any]) -> None:
        """Queue a record; never blocks. A full queue drops it and counts the drop."""
        if len(self._buf) >= self._maxsize:
            self.dropped += 1
            if self._on_drop is not None:
                self._on_drop()
            return
        self._buf.append(record)

    def _run(self) -> None:
        # The writer wakes on a timer, not per record: waking a thread for every decision costs
        # more (a cross-core wake-up here) than the record's own work.
        while not self._stop.wait(self._interval):
            self._drain()
        self._drain()

    def _drain(self) -> None:
        while self._buf:
            batch = []
            while self._buf and len(batch) < 512:
                batch.append(self._buf.popleft())
            self._flush(batch)

    def _flush(self, batch: list[dict[str, Any]]) -> None:
        self._fh.write(b"".join(orjson.dumps(finalize(r), option=orjson.OPT_SERIALIZE_NUMPY) + b"\n" for r in batch))
        self._fh.flush()
        self.written += len(batch)

    def close(self) -> None:
        """Flush everything queued, then stop."""
        self._stop.set()
        self._thread.join(timeout=10)
        self._fh.close()
