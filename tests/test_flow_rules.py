"""Flow rules: deny rules whose `after` / `unless_after` step is an earlier call of the same
session (its tool, its arguments, and for a call reported through /v1/observe its result)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gate import Gate
from gate.core.session import SessionSnapshot
from gate.errors import PolicyError
from gate.policy.loader import load_policies
from gate.settings import Settings
from replay import codes, gate_from_yaml

ROOT = Path(__file__).resolve().parent.parent

DESK = """
agent: desk
identity: |
  Accounts-payable clerk. Looks up vendors and invoices, pays approved invoices and e-mails
  vendors at their address of record.
task_category: financial
internal_domains: [acme.com]
tools:
  - name: get_invoice
    description: Read an invoice and its approval
    effect: {verb: read, sensitivity: confidential, destination: internal, reversible: "yes"}
  - name: get_vendor
    description: Read a vendor record
    effect: {verb: read, sensitivity: internal, destination: internal, reversible: "yes"}
  - name: pay_invoice
    description: Pay an approved invoice
    effect: {verb: pay, sensitivity: confidential, destination: external, reversible: "no"}
  - name: export_ledger
    description: Export the ledger for the auditors
    effect: {verb: read, sensitivity: confidential, destination: internal, reversible: "yes"}
  - name: send_email
    description: E-mail a vendor
    effect: {verb: send, sensitivity: internal, destination: external, reversible: "no"}
deny:
  - id: pay-after-lookup
    tool: pay_invoice
    unless_after:
      tool: get_invoice
      when:
        invoice_id: {matches: "^INV-"}
    message: Look the invoice up in this session before paying it
  - id: no-pay-on-held-invoice
    tool: pay_invoice
    after:
      tool: get_invoice
      result_matches: '"status":"on_hold"'
    message: An invoice this session saw on hold is not paid
  - id: no-mail-after-export
    tool: send_email
    after: {tool: "export_*"}
    when:
      to: {matches: "@(?!acme\\\\.com$)"}
    message: After a ledger export, mail stays inside the company
"""


@pytest.fixture
def desk(tmp_path: Path) -> Gate:
    return gate_from_yaml(tmp_path, DESK)


def check(gate: Gate, session: str | None, tool: str, args: dict) -> object:
    body = {"agent": "desk", "action": {"tool": tool, "args": args}}
    if session is not None:
        body["session"] = session
    return gate.check(body)


def observe(gate: Gate, session: str, tool: str, args: dict, result: object) -> None:
    gate.observe({"agent": "desk", "session": session, "action": {"tool": tool, "args": args}, "result": result})


PAY = {"invoice_id": "INV-1009", "amount": 1200}


def test_unless_after_is_a_precondition_met_by_an_earlier_allowed_call(desk: Gate) -> None:
    d = check(desk, "s1", "pay_invoice", PAY)
    assert d.decision == "BLOCK" and "deny_rule" in codes(d)
    assert any("pay-after-lookup" in r["message"] for r in d.reasons)
    assert check(desk, "s1", "get_invoice", {"invoice_id": "INV-1009"}).decision == "ALLOW"
    assert check(desk, "s1", "pay_invoice", PAY).decision == "ALLOW"


def test_the_precondition_reads_the_earlier_calls_arguments(desk: Gate) -> None:
    assert check(desk, "s2", "get_invoice", {"invoice_id": "PO-77"}).decision == "ALLOW"
    assert "deny_rule" in codes(check(desk, "s2", "pay_invoice", PAY))


def test_a_call_without_a_session_never_meets_a_precondition(desk: Gate) -> None:
    check(desk, None, "get_invoice", {"invoice_id": "INV-1009"})
    assert "deny_rule" in codes(check(desk, None, "pay_invoice", PAY))


def test_sessions_do_not_share_marks(desk: Gate) -> None:
    check(desk, "a", "get_invoice", {"invoice_id": "INV-1009"})
    assert "deny_rule" in codes(check(desk, "b", "pay_invoice", PAY))


def test_a_blocked_call_does_not_satisfy_a_step(tmp_path: Path) -> None:
    gate = gate_from_yaml(tmp_path, DESK.replace("""  - id: pay-after-lookup""", """  - id: no-lookups-of-drafts
    tool: get_invoice
    when:
      invoice_id: {matches: "^DRAFT"}
    message: drafts are not read
  - id: pay-after-lookup""").replace('invoice_id: {matches: "^INV-"}', 'invoice_id: {matches: "^(INV|DRAFT)-"}'))
    assert check(gate, "s", "get_invoice", {"invoice_id": "DRAFT-1"}).decision == "BLOCK"
    assert "deny_rule" in codes(check(gate, "s", "pay_invoice", PAY))


def test_after_with_result_matches_needs_the_observed_result(desk: Gate) -> None:
    args = {"invoice_id": "INV-2001"}
    pay = {"invoice_id": "INV-2001", "amount": 90}
    # checked but never observed: the result is unknown, the rule cannot apply
    check(desk, "h1", "get_invoice", args)
    assert check(desk, "h1", "pay_invoice", pay).decision == "ALLOW"
    # observed with a result that matches: the rule applies from then on
    check(desk, "h2", "get_invoice", args)
    observe(desk, "h2", "get_invoice", args, {"invoice_id": "INV-2001", "status": "on_hold", "amount": 90})
    d = check(desk, "h2", "pay_invoice", pay)
    assert d.decision == "BLOCK" and any("no-pay-on-held-invoice" in r["message"] for r in d.reasons)
    # a result that does not match leaves the call alone
    check(desk, "h3", "get_invoice", args)
    observe(desk, "h3", "get_invoice", args, {"invoice_id": "INV-2001", "status": "approved", "amount": 90})
    assert check(desk, "h3", "pay_invoice", pay).decision == "ALLOW"


def test_a_text_result_is_matched_as_is(tmp_path: Path) -> None:
    gate = gate_from_yaml(tmp_path, DESK.replace("""result_matches: '"status":"on_hold"'""", """result_matches: '(?i)\\bon hold\\b'"""))
    args = {"invoice_id": "INV-3"}
    check(gate, "t", "get_invoice", args)
    observe(gate, "t", "get_invoice", args, "Invoice INV-3 is ON HOLD pending a dispute.")
    assert "deny_rule" in codes(check(gate, "t", "pay_invoice", {"invoice_id": "INV-3", "amount": 5}))


def test_after_with_conditions_on_the_blocked_call(desk: Gate) -> None:
    mail = {"to": "ap@vendor.example", "subject": "Remittance", "body": "Paid today."}
    assert "deny_rule" not in codes(check(desk, "m", "send_email", mail))
    check(desk, "m", "export_ledger", {"period": "2026-10"})
    assert "deny_rule" in codes(check(desk, "m", "send_email", mail))
    # the rule's own `when` still decides: an internal recipient is fine
    assert "deny_rule" not in codes(check(desk, "m", "send_email", {**mail, "to": "controller@acme.com"}))


def test_an_observed_call_the_gate_never_checked_also_counts(desk: Gate) -> None:
    observe(desk, "o", "export_ledger", {"period": "2026-10"}, {"rows": 1200})
    assert "deny_rule" in codes(check(desk, "o", "send_email", {"to": "x@vendor.example", "subject": "s", "body": "b"}))


def test_marks_survive_the_store_round_trip() -> None:
    snap = SessionSnapshot(agent="desk", session="s", marks=frozenset({"pay-after-lookup-", "no-mail-after-export+"}))
    back = SessionSnapshot.from_json(snap.to_json())
    assert back.marks == snap.marks
    old = b'{"agent": "desk", "session": "s", "steps": 2}'     # written before marks existed
    assert SessionSnapshot.from_json(old).marks == frozenset()


def test_example_policies_flow_rules() -> None:
    gate = Gate.from_policies(ROOT / "policies", Settings(audit_path=None))
    run = {"tool": "run_shell", "args": {"command": "pytest -q tests/"}}
    push = {"tool": "git_push", "args": {"branch": "feature/login-timeout"}}
    s = {"agent": "coding-assistant", "session": "ci-1"}
    assert gate.check({**s, "action": run}).decision == "ALLOW"
    gate.observe({**s, "action": run, "result": {"exit_code": 1, "stdout": "2 failed, 40 passed in 3.1s"}})
    d = gate.check({**s, "action": push})
    assert d.decision == "BLOCK" and any("no-push-after-failing-tests" in r["message"] for r in d.reasons)
    s2 = {"agent": "coding-assistant", "session": "ci-2"}
    gate.check({**s2, "action": run})
    gate.observe({**s2, "action": run, "result": {"exit_code": 0, "stdout": "42 passed in 3.0s"}})
    assert gate.check({**s2, "action": push}).decision == "ALLOW"


def test_the_same_history_gives_the_same_marks_on_a_fresh_gate(tmp_path: Path) -> None:
    def run(gate: Gate) -> list[str]:
        out = []
        for tool, args in ([("get_invoice", {"invoice_id": "INV-1"}), ("export_ledger", {}),
                                           ("pay_invoice", PAY), ("send_email", {"to": "a@b.example", "subject": "s", "body": "b"})]):
            out.append(check(gate, "det", tool, args).decision)
        return out

    assert run(gate_from_yaml(tmp_path, DESK)) == run(gate_from_yaml(tmp_path, DESK)) == ["ALLOW", "ALLOW", "ALLOW", "BLOCK"]


@pytest.mark.parametrize("rule,fragment", [
    ("  - id: r\n    tool: t\n    after:\n      result_matches: '(['\n", "invalid regex"),
    ("  - id: r\n    tool: t\n    unless_after:\n      when:\n        a: {matches: '(['}\n", "invalid regex"),
    ("  - id: r\n    tool: t\n    after: {}\n", "should be non-empty"),
    ("  - id: r\n    tool: t\n    after: {tool: x, status: done}\n", "unknown field 'status'"),
    ("  - id: r\n    tool: t\n  - id: r\n    tool: u\n", "duplicate deny rule id 'r'"),
    # an unnamed rule is `deny-<index>`: a named rule taking that id would share its session marks
    ("  - tool: t\n  - id: deny-0\n    tool: u\n", "duplicate deny rule id 'deny-0'"),
    ("  - id: deny-1\n    tool: t\n  - tool: u\n", "duplicate deny rule id 'deny-1'"),
])
def test_lint_names_bad_flow_rules(tmp_path: Path, rule: str, fragment: str) -> None:
    (tmp_path / "a.yaml").write_text("agent: x\nidentity: y\ndeny:\n" + rule)
    with pytest.raises(PolicyError) as err:
        load_policies(tmp_path)
    assert any(fragment in i.message for i in err.value.issues), [i.message for i in err.value.issues]
