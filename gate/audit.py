"""Decision log: one JSON line per decision, written off the hot path.

Records are masked before they are serialised: secrets and personal data in arguments are
replaced by typed markers, and the original arguments are kept only as a digest. Each record
holds what a replay needs: the policy revision, the model, the session state before the call,
the (masked) request, and the decision with its reason codes. The queue is bounded; a full
queue drops the record and counts the drop, it never blocks a decision.

The log is tamper-evident: every line carries a sequence number (`seq`), the chain value of
the line before it (`prev`) and its own chain value (`chain`), a SHA-256 over the line's
other bytes, or an HMAC-SHA256 under a key (`GATE_AUDIT_KEY`) so that whoever can rewrite
the file cannot recompute the chain. An edited, deleted, inserted or reordered line breaks
the chain at that line (`gate audit verify`). A sink reopening an existing log continues its
chain; drops are written into it (`dropped_before`), so a gap is visible, never silent.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import logging
import re
import threading
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol

import orjson

from gate.core.detectors import find_pii, find_secrets, redact

__all__ = ["AuditSink", "FileAuditSink", "NullAuditSink", "mask_args", "args_digest", "finalize",
           "PENDING_ARGS", "PENDING_EXECUTED", "PENDING_BEFORE", "PENDING_DIGEST", "OBSERVATION", "GENESIS", "chain_value", "verify_logs"]

log = logging.getLogger("gate.audit")

# Keys of a queued record that `finalize` turns into its logged form off the request path.
PENDING_ARGS = "_args_json"
PENDING_EXECUTED = "_executed_json"
PENDING_BEFORE = "_session_before"
PENDING_DIGEST = "_digest_only_json"   # arguments logged as their digest alone (observations)

# `source` of the record of an accepted /v1/observe report (`event`: "observation"). It says
# which decision the report names, how it was counted and whether the result carried an error;
# its arguments appear only as `args_digest`, never as text (the check's own record holds them
# masked), and nothing of the result is logged. `gate replay` skips these records.
OBSERVATION = "observe"


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
    digest_only = record.pop(PENDING_DIGEST, None)
    if digest_only is not None:
        record["args_digest"] = args_digest(orjson.loads(digest_only))
        return record
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


GENESIS = "0" * 64                 # `prev` of a chain's first line
_CHAIN_TAIL = re.compile(rb',"chain":"([0-9a-f]{64})"\}[ \t\r]*$')
_RESUME_WINDOW = 1 << 18           # bytes read from a log's end to find its last line, doubled as needed
_RESUME_LIMIT = 1 << 26


def chain_value(body: bytes, key: bytes | None) -> str:
    """The chain value of one line: SHA-256 (no key) or HMAC-SHA256 over the line's bytes
    without its `chain` field. `body` holds `prev`, so each value covers the whole history."""
    if key:
        return hmac.new(key, body, hashlib.sha256).hexdigest()
    return hashlib.sha256(body).hexdigest()


def _chained_line(record: dict[str, Any], key: bytes | None) -> tuple[bytes, str]:
    """(the line to write, its chain value): the record's JSON with `"chain"` appended last."""
    body = orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY)
    value = chain_value(body, key)
    return body[:-1] + b',"chain":"' + value.encode() + b'"}\n', value


def _split_chained(line: bytes) -> tuple[bytes, str] | None:
    """(the bytes the chain value covers, the chain value) of a chained line, or None."""
    m = _CHAIN_TAIL.search(line)
    if m is None or m.start() == 0:
        return None
    return line[: m.start()] + b"}", m.group(1).decode()


def _resume_point(path: Path) -> tuple[str, int, bool]:
    """(chain value to continue from, next seq, whether the file ends inside a line) of an
    existing log. A torn last line (a crash mid-write) is skipped: the chain continues from
    the last complete one, and `verify` reports the torn line."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return GENESIS, 0, False
    if size == 0:
        return GENESIS, 0, False
    window = _RESUME_WINDOW
    with path.open("rb") as fh:
        while True:
            start = max(0, size - window)
            fh.seek(start)
            data = fh.read(size - start)
            lines = data.split(b"\n")
            if start > 0:
                lines = lines[1:]          # the first piece may begin mid-line
            for line in reversed(lines):
                split = _split_chained(line)
                if split is None:
                    continue
                try:
                    rec = orjson.loads(split[0])
                    return split[1], int(rec["seq"]) + 1, not data.endswith(b"\n")
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                    continue
            if start == 0 or window >= _RESUME_LIMIT:
                # no chained line (a log written before chaining, or a line longer than the
                # limit): a new chain starts here, and `verify` shows where
                return GENESIS, 0, not data.endswith(b"\n")
            window *= 2


def verify_logs(paths: Iterable[Path], key: bytes | None = None) -> dict[str, Any]:
    """Check the hash chain of one log, or of several given in the order they were written
    (a rotated log and its successor). Every problem is listed with its file and line."""
    problems: list[dict[str, Any]] = []
    prev: str | None = None            # the chain value the next line must name
    seq: int | None = None
    records = dropped = keyed = 0
    first_seq: int | None = None

    def problem(file: Path, line: int, code: str, message: str) -> None:
        if len(problems) < 1000:
            problems.append({"file": str(file), "line": line, "code": code, "message": message})

    for path in paths:
        path = Path(path)
        try:
            fh = path.open("rb")
        except OSError as exc:
            problem(path, 0, "unreadable", f"cannot open the log: {exc.strerror or exc}")
            continue
        with fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                split = _split_chained(line)
                if split is None:
                    try:
                        orjson.loads(line)
                        problem(path, n, "unchained", "the line carries no chain value (edited, or written before chaining)")
                    except orjson.JSONDecodeError:
                        problem(path, n, "not_json", "the line is not a complete JSON record (a write cut short, or damaged)")
                    continue
                body, value = split
                try:
                    rec = orjson.loads(body)
                    rec_seq, rec_prev = int(rec["seq"]), str(rec["prev"])
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                    problem(path, n, "malformed", "the line is not a chained audit record")
                    continue
                records += 1
                alg = rec.get("chain_alg", "sha256")
                if alg == "hmac-sha256":
                    keyed += 1
                if alg == "hmac-sha256" and not key:
                    problem(path, n, "key_required", "the line is chained under a key: give it (GATE_AUDIT_KEY)")
                elif not hmac.compare_digest(chain_value(body, key if alg == "hmac-sha256" else None), value):
                    problem(path, n, "chain_mismatch", "the line's content does not match its chain value (edited, or a wrong key)")
                if prev is None:
                    first_seq = rec_seq
                    if rec_prev != GENESIS:
                        problem(path, n, "chain_continued", "the first line continues a chain from an earlier log: "
                                "verify that log first, in the same command")
                elif rec_prev != prev:
                    problem(path, n, "prev_mismatch", "the line does not follow the one before it (a line removed, inserted or reordered)")
                if seq is not None and rec_seq != seq + 1:
                    problem(path, n, "seq_gap", f"sequence {rec_seq} follows {seq} (lines removed or reordered)")
                dropped += int(rec.get("dropped_before", 0) or 0)
                prev, seq = value, rec_seq
    return {"ok": not problems, "records": records, "keyed": keyed, "first_seq": first_seq, "last_seq": seq,
            "last_chain": prev, "dropped": dropped, "problems": problems}


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
    """Appends hash-chained JSON lines to a file from a background thread; bounded, counted
    drops. One sink per file: two writers on one file would fork its chain (verify shows it)."""

    def __init__(self, path: Path, maxsize: int = 10_000, on_drop: Callable[[], None] | None = None,
                 interval_s: float = 0.05, key: bytes | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._key = key or None
        self._alg = "hmac-sha256" if self._key else "sha256"
        self._prev, self._seq, torn = _resume_point(self.path)
        self._unwritten_drops = 0          # drops not yet written into the chain
        self._drop_lock = threading.Lock()
        self._buf: collections.deque[dict[str, Any]] = collections.deque()   # append/popleft are atomic
        self._maxsize = maxsize
        self._interval = interval_s
        self._stop = threading.Event()
        self._on_drop = on_drop
        self.dropped = 0
        self.written = 0
        self._fh = self.path.open("ab")
        if torn:
            self._fh.write(b"\n")           # the next record starts on a line of its own
        self._thread = threading.Thread(target=self._run, name="gate-audit", daemon=True)
        self._thread.start()

    def write(self, record: dict[str, Any]) -> None:
        """Queue a record; never blocks. A full queue drops it and counts the drop."""
        if len(self._buf) >= self._maxsize:
            self._count_drop()
            return
        self._buf.append(record)

    def _count_drop(self) -> None:
        with self._drop_lock:
            self.dropped += 1
            self._unwritten_drops += 1
        if self._on_drop is not None:
            self._on_drop()

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
        lines = []
        for r in batch:
            try:
                rec = finalize(r)
                rec["seq"], rec["prev"], rec["chain_alg"] = self._seq, self._prev, self._alg
                if self._unwritten_drops:
                    rec["dropped_before"] = self._unwritten_drops
                line, prev = _chained_line(rec, self._key)
            except (TypeError, ValueError) as exc:
                # a record JSON cannot carry (a caller's value gate let through): dropped and
                # counted, so one bad record never stops the writer and every later record
                log.warning("gate: audit record dropped, not serializable: %s", exc)
                self._count_drop()
                continue
            if "dropped_before" in rec:
                with self._drop_lock:
                    self._unwritten_drops -= rec["dropped_before"]
            self._prev = prev
            self._seq += 1
            lines.append(line)
        self._fh.write(b"".join(lines))
        self._fh.flush()
        self.written += len(batch)

    def close(self) -> None:
        """Flush everything queued, then stop."""
        self._stop.set()
        self._thread.join(timeout=10)
        if self._unwritten_drops:
            # drops after the last record: a closing marker keeps them in the chain
            self._flush([{"source": "audit", "event": "records_dropped"}])
        self._fh.close()
