"""The audit log's hash chain: what a tampered log looks like to `gate audit verify`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import orjson
from gate import Gate
from gate.audit import GENESIS, FileAuditSink, chain_value, verify_logs
from gate.replay import replay_file
from gate.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CALLS = [
    {"tool": "read_invoice", "args": {"invoice_id": "INV-1001"}},
    {"tool": "issue_refund", "args": {"invoice_id": "INV-1001", "amount": 40, "currency": "USD"}},
    {"tool": "bank_transfer", "args": {"to_account": "DE89370400440532013000", "amount": 9000}},
    {"tool": "send_customer_email", "args": {"to": "customer@example.com", "subject": "Refund", "body": "Your refund is on its way."}},
    {"tool": "read_invoice", "args": {"invoice_id": "INV-1002"}},
]

def _log(path: Path, key: str | None = None, calls: list = CALLS, session: str = "s1") -> Gate:
    gate = Gate.from_policies(ROOT / "policies", Settings(audit_path=path, audit_key=key))
    for action in calls:
        gate.check({"agent": "billing-assistant", "session": session, "task": "refund invoice INV-1001, charged twice", "action": action})
    gate.close()
    return gate


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def _codes(report: dict) -> list[tuple[int, str]]:
    return [(p["line"], p["code"]) for p in report["problems"]]


def test_an_untouched_log_verifies_and_each_line_names_the_one_before(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    _log(log)
    report = verify_logs([log])
    assert report["ok"] and report["records"] == len(CALLS) and report["problems"] == []
    recs = [orjson.loads(line) for line in _lines(log)]
    assert [r["seq"] for r in recs] == list(range(len(CALLS)))
    assert recs[0]["prev"] == GENESIS
    assert all(b["prev"] == a["chain"] for a, b in zip(recs, recs[1:]))
    assert report["last_chain"] == recs[-1]["chain"]
    # the chain value is the SHA-256 of the line without its own chain field
    body = _lines(log)[2].rstrip(b"\n")
    cut = body.rindex(b',"chain":')
    assert chain_value(body[:cut] + b"}", None) == recs[2]["chain"]


def test_an_edited_line_breaks_the_chain_at_that_line(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    _log(log)
    lines = _lines(log)
    assert b'"decision":"BLOCK"' in lines[2]          # the bank transfer the deny rule stops
    lines[2] = lines[2].replace(b'"decision":"BLOCK"', b'"decision":"ALLOW"')
    log.write_bytes(b"".join(lines))
    report = verify_logs([log])
    assert not report["ok"]
    assert _codes(report) == [(3, "chain_mismatch")]


def test_a_removed_line_and_reordered_lines_are_reported(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    _log(log)
    lines = _lines(log)
    removed = tmp_path / "removed.jsonl"
    removed.write_bytes(b"".join(lines[:2] + lines[3:]))
    assert _codes(verify_logs([removed])) == [(3, "prev_mismatch"), (3, "seq_gap")]
    swapped = tmp_path / "swapped.jsonl"
    swapped.write_bytes(b"".join([lines[0], lines[2], lines[1]] + lines[3:]))
    codes = _codes(verify_logs([swapped]))
    assert (2, "prev_mismatch") in codes and (3, "prev_mismatch") in codes and (4, "prev_mismatch") in codes
    truncated_head = tmp_path / "head.jsonl"
    truncated_head.write_bytes(b"".join(lines[1:]))
    assert _codes(verify_logs([truncated_head])) == [(1, "chain_continued")]


def test_a_reopened_log_continues_its_chain_across_restarts(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    _log(log)
    _log(log, calls=CALLS[:2], session="s2")          # a restart appends to the same file
    report = verify_logs([log])
    assert report["ok"], report["problems"]
    assert report["records"] == len(CALLS) + 2 and report["last_seq"] == len(CALLS) + 1


def test_rotated_logs_verify_together_in_order_and_not_out_of_order(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    _log(log)
    old = tmp_path / "audit.1.jsonl"
    log.rename(old)
    lines = _lines(old)
    old.write_bytes(b"".join(lines[:3]))
    log.write_bytes(b"".join(lines[3:]))                # as a size-based rotation would split it
    assert verify_logs([old, log])["ok"]
    assert _codes(verify_logs([log])) == [(1, "chain_continued")]
    assert not verify_logs([log, old])["ok"]


def test_a_keyed_chain_needs_the_key_and_a_recomputed_plain_chain_does_not_pass(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    _log(log, key="s3cret-audit-key")
    assert verify_logs([log], b"s3cret-audit-key")["ok"]
    assert {c for _, c in _codes(verify_logs([log]))} == {"key_required"}
    assert {c for _, c in _codes(verify_logs([log], b"wrong-key"))} == {"chain_mismatch"}
    # whoever edits a line and recomputes the chain without the key is still caught
    lines = _lines(log)
    prev = GENESIS
    forged = []
    for raw in lines:
        rec = orjson.loads(raw)
        rec.pop("chain")
        rec["prev"] = prev
        if rec["decision"] == "BLOCK":
            rec["decision"] = "ALLOW"
        body = orjson.dumps(rec)
        prev = chain_value(body, None)
        forged.append(body[:-1] + b',"chain":"' + prev.encode() + b'"}\n')
    log.write_bytes(b"".join(forged))
    assert not verify_logs([log], b"s3cret-audit-key")["ok"]
    assert verify_logs([log], b"s3cret-audit-key")["problems"][0]["code"] == "chain_mismatch"


def test_a_torn_last_line_is_reported_and_the_next_writer_continues_after_it(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    _log(log)
    data = log.read_bytes()
    log.write_bytes(data + data.splitlines(keepends=True)[0][:40])   # a crash mid-write
    _log(log, calls=CALLS[:1], session="s3")
    report = verify_logs([log])
    assert _codes(report) == [(len(CALLS) + 1, "not_json")]
    assert report["records"] == len(CALLS) + 1


def test_drops_are_written_into_the_chain(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    sink = FileAuditSink(log, maxsize=1, interval_s=60)     # the writer only drains at close
    for i in range(4):
        sink.write({"n": i})
    sink.close()
    recs = [orjson.loads(line) for line in _lines(log)]
    assert recs[0]["n"] == 0 and recs[0]["dropped_before"] == 3
    report = verify_logs([log])
    assert report["ok"] and report["dropped"] == 3
    # drops after the last record: a closing marker carries them
    log2 = tmp_path / "b.jsonl"
    sink = FileAuditSink(log2, maxsize=1, interval_s=60)
    sink.write({"n": 0})
    sink._drain()
    sink.write({"n": 1})
    sink._buf.clear()                                        # as if the queue were still full
    sink._buf.append({"n": 1})
    sink.write({"n": 2})                                     # dropped
    sink._buf.clear()
    sink.close()
    recs = [orjson.loads(line) for line in _lines(log2)]
    assert recs[-1]["event"] == "records_dropped" and recs[-1]["dropped_before"] == 1
    assert verify_logs([log2])["ok"]


def test_a_log_written_before_chaining_is_not_certified(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_bytes(b'{"decision_id":"old","decision":"ALLOW"}\n')
    _log(log, calls=CALLS[:2])
    report = verify_logs([log])
    assert _codes(report) == [(1, "unchained")]
    assert report["records"] == 2


def test_replay_still_reads_a_chained_log(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    gate = _log(log)
    fresh = Gate.from_policies(ROOT / "policies", Settings(audit_path=None))
    report = replay_file(fresh, log)
    assert report["replayed"] == len(CALLS) and report["mismatched"] == 0
    del gate


def test_the_cli_verifies_and_exits_non_zero_on_a_tampered_log(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    _log(log, key="k1")
    env = dict(os.environ, GATE_AUDIT_KEY="k1")
    ok = subprocess.run([sys.executable, "-m", "gate.cli", "audit", "verify", str(log)], env=env,
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["ok"] is True
    log.write_bytes(log.read_bytes().replace(b'"amount":40', b'"amount":400', 1))
    bad = subprocess.run([sys.executable, "-m", "gate.cli", "audit", "verify", str(log)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["problems"][0]["code"] == "chain_mismatch"


def test_an_empty_key_setting_means_a_plain_chain_and_the_key_stays_out_of_reprs() -> None:
    assert Settings.from_env({"GATE_AUDIT_KEY": ""}).audit_key is None
    assert "k9" not in repr(Settings.from_env({"GATE_AUDIT_KEY": "k9"}))
