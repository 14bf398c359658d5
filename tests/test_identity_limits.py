"""Money caps the identity text states ("issues refunds up to 100 USD") hold for calls of the
kind they speak about, when the policy gives that tool no explicit `max` of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from gate import Gate
from gate.core.frame import money_limits, stems
from gate.settings import Settings
from replay import codes, gate_from_yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("text,expected", [
    ("Customer billing assistant. Issues refunds up to 100 USD.", [(100.0, "USD", {"refund"})]),
    ("Orders hardware from the catalogue, up to 2,500 USD per order, charged to IT.", [(2500.0, "USD", {"order"})]),
    ("Pays supplier invoices of at most €12,000.50 each", [(12000.5, "EUR", {"pay", "supplier", "invoice"})]),
    ("Approves expense claims no more than $5k", [(5000.0, "USD", {"approve", "expense", "claim"})]),
    ("Sends up to 10 reminders a day", []),                  # a count, not money
    ("Keeps logs for up to 30 days", []),
])
def test_money_limits_are_read_with_what_they_cap(text: str, expected: list) -> None:
    got = [(lim.amount, lim.currency, set(lim.about)) for lim in money_limits(text)]
    assert got == expected


def test_stems_split_tool_names() -> None:
    assert stems("API_CALL:create_purchaseOrders") == {"api", "call", "purchase", "order"}


AGENT = """
agent: buyer
identity: |
  Office purchasing assistant. Orders supplies from approved vendors, up to 2,500 USD per order,
  and issues refunds to staff of at most 50 USD. Looks up past orders.
task_category: financial
"""


@pytest.fixture
def buyer(tmp_path: Path) -> Gate:
    return gate_from_yaml(tmp_path, AGENT)


def decide(gate: Gate, tool: str, args: dict) -> object:
    return gate.check({"agent": "buyer", "action": {"tool": tool, "args": args}})


@pytest.mark.parametrize("tool,args", [
    ("create_purchase_order", {"vendor": "CDW", "amount": 4999}),
    ("create_purchase_order", {"vendor": "CDW", "total": "3,100.00 USD"}),
    ("place_order", {"items": [{"sku": "MON-27", "price": 2600}]}),
    ("issue_refund", {"employee": "E1", "amount": 75}),
    ("issue_refund", {"employee": "E1", "amount_cents": 9900}),
])
def test_a_call_above_the_cap_its_words_name_is_stopped(buyer: Gate, tool: str, args: dict) -> None:
    d = decide(buyer, tool, args)
    assert d.decision == "BLOCK" and "identity_limit" in codes(d)
    [reason] = [r for r in d.reasons if r["code"] == "identity_limit"]
    assert "the identity states" in reason["message"] and "CDW" not in reason["message"]


def test_each_cap_holds_for_its_own_kind_of_call(buyer: Gate) -> None:
    assert "identity_limit" not in codes(decide(buyer, "create_purchase_order", {"vendor": "CDW", "amount": 2400}))
    # the same amount as a refund is over the refund cap (50 USD), not the order cap
    assert "identity_limit" in codes(decide(buyer, "issue_refund", {"employee": "E1", "amount": 2400}))
    assert "identity_limit" not in codes(decide(buyer, "issue_refund", {"employee": "E1", "amount": 50}))


@pytest.mark.parametrize("tool,args", [
    ("list_orders", {"min_amount": 10000}),                      # a read: a filter, not a payment
    ("create_purchase_order", {"vendor": "CDW", "amount": 4999, "currency": "EUR"}),   # another currency
    ("book_travel", {"amount": 9000}),                           # no cap speaks about travel
    ("create_purchase_order", {"vendor": "CDW", "quantity": 4000}),  # a count
])
def test_calls_the_caps_do_not_speak_about_are_left_alone(buyer: Gate, tool: str, args: dict) -> None:
    assert "identity_limit" not in codes(decide(buyer, tool, args))


def test_an_explicit_max_constraint_takes_precedence(tmp_path: Path) -> None:
    gate = gate_from_yaml(tmp_path, AGENT + """tools:
  - name: create_purchase_order
    constraints:
      - arg: amount
        max: 10000
""")
    d = gate.check({"agent": "buyer", "action": {"tool": "create_purchase_order", "args": {"vendor": "CDW", "amount": 4999}}})
    assert "identity_limit" not in codes(d) and d.decision == "ALLOW"


def test_the_minimal_example_agent_holds_its_stated_refund_cap() -> None:
    gate = Gate.from_policies(ROOT / "policies", Settings(audit_path=None))
    big = gate.check({"agent": "minimal-agent", "action": {"tool": "issue_refund", "args": {"invoice_id": "INV-1009", "amount": 100000}}})
    small = gate.check({"agent": "minimal-agent", "action": {"tool": "issue_refund", "args": {"invoice_id": "INV-1009", "amount": 40}}})
    assert big.decision == "BLOCK" and "identity_limit" in codes(big)
    assert small.decision == "ALLOW"
