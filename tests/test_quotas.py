"""Per-session quotas: how many calls of a kind, and how much of an argument in total, one
session may spend (counted over the calls the session executed), with the policy errors lint
reports and the counters surviving the session store (memory, JSON, a real Redis)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from gate import Gate
from gate.core.session import SessionSnapshot
from gate.errors import PolicyError
from gate.policy.loader import load_policies
from gate.settings import Settings
from gate.stores import session_key
from replay import codes, gate_from_yaml

DESK = """
agent: desk
identity: Customer billing assistant. Reads invoices, issues refunds and credits accounts.
internal_domains: [acme.com]
tools:
  - name: read_invoice
  - name: issue_refund
    constraints:
      - {arg: amount, max: 100, on_violation: clamp}
  - name: credit_account
  - name: send_email
quotas:
  - id: refunds-per-session
    tool: issue_refund
    max_calls: 3
  - id: refund-total
    tool: [issue_refund, credit_account]
    sum: amount
    max_total: 150
    on_violation: clamp
    message: refunds and credits are capped at 150 USD per session
  - id: external-mail
    tool: send_email
    when:
      to: {matches: "@(?!acme\\\\.com$)"}
    max_calls: 1
"""


def refund(amount, session: str | None = "s1", tool: str = "issue_refund", invoice: str = "INV-1009") -> dict:
    req = {"agent": "desk", "action": {"tool": tool, "args": {"invoice_id": invoice, "amount": amount}}}
    if session is not None:
        req["session"] = session
    return req


def mail(to: str, session: str = "s1") -> dict:
    return {"agent": "desk", "session": session,
            "action": {"tool": "send_email", "args": {"to": to, "subject": "Your invoice", "body": "Attached."}}}


@pytest.fixture
def desk(tmp_path: Path) -> Gate:
    return gate_from_yaml(tmp_path, DESK)


def test_the_call_past_max_calls_is_blocked_and_names_the_quota(desk: Gate) -> None:
    for _ in range(3):
        assert desk.check(refund(10)).decision == "ALLOW"
    d = desk.check(refund(10))
    assert d.decision == "BLOCK"
    assert codes(d) == {"quota_calls_exceeded"}
    assert "refunds-per-session" in d.reasons[0]["message"] and "3 of 3" in d.reasons[0]["message"]
    # another session has its own counters
    assert desk.check(refund(10, session="s2")).decision == "ALLOW"


def test_a_blocked_call_spends_nothing(desk: Gate) -> None:
    assert desk.check(refund(40)).decision == "ALLOW"
    blocked = desk.check(refund("a lot", tool="credit_account"))   # unreadable amount: blocked, not counted
    assert blocked.decision == "BLOCK" and codes(blocked) == {"quota_amount_unreadable"}
    for _ in range(2):
        assert desk.check(refund(40)).decision == "ALLOW"
    snap = desk.store.get(session_key("desk", "s1"))
    assert dict((i, (n, t)) for i, n, t in snap.usage) == {"refunds-per-session": (3, 0.0), "refund-total": (3, 120.0)}


def test_the_total_is_clamped_to_what_is_left_then_blocked(desk: Gate) -> None:
    assert desk.check(refund(100)).decision == "ALLOW"
    d = desk.check(refund(80, tool="credit_account"))   # another tool under the same quota
    assert d.decision == "REWRITE"
    assert d.action["args"]["amount"] == 50
    assert "quota_clamped" in codes(d)
    d = desk.check(refund(0.01, tool="credit_account"))
    assert d.decision == "BLOCK" and codes(d) == {"quota_total_exceeded"}
    msg = d.reasons[0]["message"]
    assert "150 of 150 already spent" in msg and "capped at 150 USD per session" in msg
    assert d.scores["quota_total"] == 150.0


def test_the_executed_amount_counts_after_an_argument_clamp(desk: Gate) -> None:
    d = desk.check(refund(400))
    assert d.decision == "REWRITE" and d.action["args"]["amount"] == 100   # the constraint's clamp
    assert "args_rewritten" in codes(d) and "quota_clamped" not in codes(d)   # the quota judged 100, not 400
    d = desk.check(refund(80))
    assert d.decision == "REWRITE" and d.action["args"]["amount"] == 50    # 100 counted, not 400


def test_a_block_quota_blocks_instead_of_clamping(tmp_path: Path) -> None:
    g = gate_from_yaml(tmp_path, DESK.replace("    on_violation: clamp\n    message", "    message"))
    assert g.check(refund(100)).decision == "ALLOW"
    d = g.check(refund(60))
    assert d.decision == "BLOCK" and codes(d) == {"quota_total_exceeded"}
    assert g.check(refund(50)).decision == "ALLOW"   # exactly the cap


def test_when_conditions_select_the_calls_that_count(desk: Gate) -> None:
    for _ in range(3):
        assert desk.check(mail("ana@acme.com")).decision == "ALLOW"   # internal: not under the quota
    assert desk.check(mail("ana@example.org")).decision == "ALLOW"
    d = desk.check(mail("bo@example.net"))
    assert d.decision == "BLOCK" and codes(d) == {"quota_calls_exceeded"}


def test_observed_calls_count_once(desk: Gate) -> None:
    # executed without a check: counted when reported
    desk.observe({"agent": "desk", "session": "s1", "action": refund(70, invoice="INV-1")["action"], "result": {"ok": True}})
    # checked and then reported with its decision id: counted by the check only
    d = desk.check(refund(40, invoice="INV-2"))
    assert d.decision == "ALLOW"
    desk.observe({"agent": "desk", "session": "s1", "action": d.action, "result": {"ok": True}, "decision_id": d.decision_id})
    snap = desk.store.get(session_key("desk", "s1"))
    assert dict((i, (n, t)) for i, n, t in snap.usage)["refund-total"] == (2, 110.0)
    d = desk.check(refund(90, invoice="INV-3"))
    assert d.decision == "REWRITE" and d.action["args"]["amount"] == 40


def test_a_call_without_a_session_is_checked_alone(desk: Gate) -> None:
    # nothing to count across: each sessionless call is its session's only call
    for _ in range(5):
        assert desk.check(refund(100, session=None)).decision == "ALLOW"


def test_a_sessionless_call_over_the_total_is_blocked(tmp_path: Path) -> None:
    g = gate_from_yaml(tmp_path, DESK.replace("max_total: 150", "max_total: 60").replace("    on_violation: clamp\n    message", "    message"))
    assert g.check(refund(60, session=None)).decision == "ALLOW"
    assert codes(g.check(refund(61, session=None))) == {"quota_total_exceeded"}


def test_dry_run_counts_the_calls_that_run(tmp_path: Path) -> None:
    (tmp_path / "desk.yaml").write_text(DESK)
    g = Gate.from_policies(tmp_path, Settings(audit_path=None, mode="dry-run"))
    for _ in range(5):
        d = g.check(refund(10))
        assert d.decision == "ALLOW"
    assert d.dry_run is not None and d.dry_run["decision"] == "BLOCK"
    snap = g.store.get(session_key("desk", "s1"))
    assert dict((i, (n, t)) for i, n, t in snap.usage)["refunds-per-session"] == (5, 0.0)


def test_usage_survives_the_snapshot_json_and_older_snapshots_load(desk: Gate) -> None:
    desk.check(refund(30))
    snap = desk.store.get(session_key("desk", "s1"))
    again = SessionSnapshot.from_json(snap.to_json())
    assert again.usage == snap.usage == (("refund-total", 1, 30.0), ("refunds-per-session", 1, 0.0))
    old = b'{"agent": "desk", "session": "s1", "steps": 2}'
    assert SessionSnapshot.from_json(old).usage == ()


@pytest.mark.redis
def test_replicas_sharing_redis_never_exceed_max_calls(redis_server, tmp_path: Path) -> None:
    (tmp_path / "desk.yaml").write_text(DESK)
    gates = [Gate.from_policies(tmp_path, Settings(audit_path=None, store="redis", redis_url=redis_server.url,
                                                   redis_timeout_s=0.5)) for _ in range(2)]
    decisions: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(6)

    def hammer(g: Gate) -> None:
        start.wait(timeout=10)
        for _ in range(4):
            d = g.check(refund(1, session="shared"))
            with lock:
                decisions.append(d.decision)

    threads = [threading.Thread(target=hammer, args=(gates[i % 2],)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert len(decisions) == 24
    assert decisions.count("ALLOW") == 3 and decisions.count("BLOCK") == 21
    snap = gates[1].store.get(session_key("desk", "shared"))
    assert dict((i, (n, t)) for i, n, t in snap.usage)["refunds-per-session"] == (3, 0.0)
    for g in gates:
        g.close()


@pytest.mark.parametrize("quota, expected", [
    ("  - {id: q, tool: pay, sum: amount}", "`sum` and `max_total` go together"),
    ("  - {id: q, tool: pay, max_total: 5}", "`sum` and `max_total` go together"),
    ("  - {id: q, tool: pay, max_calls: 2, on_violation: clamp}", "on_violation: clamp needs sum and max_total"),
    ("  - {id: q, tool: pay}", "is not valid under any of the given schemas"),
    ("  - {id: q, tool: pay, max_calls: -1}", "less than the minimum of 0"),
    ("  - {tool: pay, max_calls: 1}", "'id' is a required property"),
    ("  - {id: q, tool: pay, max_calls: 1, per_day: 3}", "unknown field 'per_day'"),
    ("  - {id: q, tool: pay, max_calls: 1, per: day}", "'day' is not one of ['session', 'agent']"),
    ("  - {id: q, tool: pay, max_calls: 1, per: agent}", "per: agent needs a `window`"),
    ("  - {id: q, tool: pay, max_calls: 1, per: agent, window: 0d}", "between 1 second and 366 days"),
    ("  - {id: q, tool: pay, max_calls: 1, when: {to: {matches: '(unclosed'}}}", "invalid regex"),
    ("  - {id: q, tool: pay, max_calls: 1}\n  - {id: q, tool: refund, max_calls: 1}", "duplicate quota id 'q'"),
])
def test_lint_names_each_quota_error_with_its_line(tmp_path: Path, quota: str, expected: str) -> None:
    (tmp_path / "a.yaml").write_text(f"agent: a\nidentity: Pays approved invoices.\nquotas:\n{quota}\n")
    with pytest.raises(PolicyError) as err:
        load_policies(tmp_path)
    issues = err.value.issues
    assert any(expected in i.message for i in issues), [i.message for i in issues]
    assert all(i.line >= 4 for i in issues), [(i.line, i.message) for i in issues]
