"""A restricting rule (a deny rule, a quota, a flow rule's `after`) applies to every spelling of
what it names: the tool under another case, with `-` for `_` or behind a namespace
(`mcp__aws__delete_bucket`, `API_CALL:bank_transfer`); a value with stray spaces, invisible
characters or fullwidth letters; a list holding the value; an amount written as money text
(`$5,000`, `5.000,00 EUR`) or as a money object. Before, each call stopped below was allowed.
An exempting step (`unless_after`) still matches only the name and value as written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gate.core.checks import _number_readings
from gate.gate import Gate
from gate.settings import Settings

POLICY = {
    "agent": "ops",
    "identity": "Operations agent that deletes storage buckets, transfers funds between internal accounts, "
                "scales services up or down and pays supplier invoices.",
    "deny": [
        {"id": "no-prod-deletes", "tool": "delete_*", "when": {"environment": {"equals": "production"}},
         "message": "no deletes in production"},
        {"id": "big-transfers", "tool": "bank_transfer", "when": {"amount": {"gt": 1000}},
         "message": "transfers above 1,000 need a person"},
        {"id": "prod-scaling", "tool": "scale_*", "when": {"env": {"in": ["production", "prod"]}},
         "message": "no scaling in production"},
        {"id": "no-wildcard-notes", "tool": "annotate", "when": {"note": {"contains": "override"}},
         "message": "no override notes"},
        {"id": "pay-after-lookup", "tool": "pay_invoice", "unless_after": {"tool": "get_invoice"},
         "message": "look the invoice up first"},
    ],
    "quotas": [
        {"id": "eur-payments", "tool": "pay_*", "when": {"currency": {"equals": "EUR"}}, "max_calls": 0,
         "message": "no euro payments"},
    ],
}


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Gate:
    d = tmp_path_factory.mktemp("rules")
    (d / "ops.yaml").write_text(yaml.safe_dump(POLICY))
    return Gate.from_policies(d, Settings(audit_path=None))


def _decide(gate: Gate, tool: str, args: dict[str, Any], session: str | None = None) -> tuple[str, list[str]]:
    req: dict[str, Any] = {"agent": "ops", "action": {"tool": tool, "args": args}}
    if session:
        req["session"] = session
    d = gate.check(req)
    return d.decision, [r["code"] for r in d.reasons]


@pytest.mark.parametrize("tool, stopped", [
    ("delete_bucket", True), ("Delete_Bucket", True), ("DELETE-BUCKET", True),
    ("mcp__aws__delete_bucket", True), ("API_CALL:delete_bucket", True), ("storage.delete_bucket", True),
    ("list_buckets", False), ("mcp__aws__list_buckets", False),
])
def test_deny_globs_take_every_spelling_of_a_tool(gate: Gate, tool: str, stopped: bool) -> None:
    decision, codes = _decide(gate, tool, {"bucket": "logs-archive", "environment": "production"})
    assert ("deny_rule" in codes) is stopped, (tool, decision, codes)


@pytest.mark.parametrize("env, stopped", [
    ("production", True), (" production", True), ("production\n", True), ("pro\u200bduction", True),
    ("\uff50\uff52\uff4f\uff44\uff55\uff43\uff54\uff49\uff4f\uff4e", True), (["staging", "production"], True),
    ("staging", False), (["staging"], False), ("prod", False),
])
def test_equals_sees_the_value_under_its_disguises(gate: Gate, env: Any, stopped: bool) -> None:
    decision, codes = _decide(gate, "delete_bucket", {"bucket": "b", "environment": env})
    assert ("deny_rule" in codes) is stopped, (env, decision, codes)


@pytest.mark.parametrize("env, stopped", [("Prod ", True), ("p\u00adrod", True), (["prod"], True), ("qa", False)])
def test_in_sees_the_value_under_its_disguises(gate: Gate, env: Any, stopped: bool) -> None:
    decision, codes = _decide(gate, "scale_service", {"service": "api", "env": env, "replicas": 3})
    assert ("deny_rule" in codes) is stopped, (env, decision, codes)


@pytest.mark.parametrize("amount, stopped", [
    (5000, True), ("5000", True), ("5,000", True), ("$5,000", True), ("5000 USD", True), ("USD 5000", True),
    ("5.000,00", True), ("EUR 1.000,50", True), ({"value": 5000, "currency": "USD"}, True), ([5000], True),
    (500, False), ("$500.00", False), ("1.000,00", False), ({"value": 900, "currency": "USD"}, False),
])
def test_gt_reads_money_text(gate: Gate, amount: Any, stopped: bool) -> None:
    decision, codes = _decide(gate, "bank_transfer", {"amount": amount, "to_account": "ops-reserve"})
    assert ("deny_rule" in codes) is stopped, (amount, decision, codes)


@pytest.mark.parametrize("note, stopped", [("manager OVERRIDE", True), ("over\u200bride please", True), ("routine", False)])
def test_contains_ignores_invisible_characters(gate: Gate, note: str, stopped: bool) -> None:
    decision, codes = _decide(gate, "annotate", {"note": note})
    assert ("deny_rule" in codes) is stopped, (note, decision, codes)


def test_quota_when_and_tool_take_spellings(gate: Gate) -> None:
    for tool, currency in (("pay_supplier", "EUR"), ("API_CALL:pay_supplier", "eur "), ("Pay-Supplier", "\uff25\uff35\uff32")):
        _, codes = _decide(gate, tool, {"invoice_id": "INV-1", "amount": 10, "currency": currency})
        assert "quota_calls_exceeded" in codes, (tool, currency, codes)
    _, codes = _decide(gate, "pay_supplier", {"invoice_id": "INV-1", "amount": 10, "currency": "USD"})
    assert "quota_calls_exceeded" not in codes, codes


def test_exempting_step_matches_only_the_name_as_written(gate: Gate) -> None:
    # the precondition is met by get_invoice itself ...
    s = "sess-exempt-1"
    d = gate.check({"agent": "ops", "session": s, "action": {"tool": "get_invoice", "args": {"invoice_id": "INV-7"}}})
    gate.observe({"agent": "ops", "session": s, "action": d.action, "result": {"status": "open"}, "decision_id": d.decision_id})
    _, codes = _decide(gate, "pay_invoice", {"invoice_id": "INV-7", "amount": 10, "currency": "USD"}, session=s)
    assert "deny_rule" not in codes, codes
    # ... and not by a tool of another namespace that happens to end the same way
    s = "sess-exempt-2"
    d = gate.check({"agent": "ops", "session": s, "action": {"tool": "scratch__get_invoice", "args": {"invoice_id": "INV-7"}}})
    gate.observe({"agent": "ops", "session": s, "action": d.action, "result": {"status": "open"}, "decision_id": d.decision_id})
    _, codes = _decide(gate, "pay_invoice", {"invoice_id": "INV-7", "amount": 10, "currency": "USD"}, session=s)
    assert "deny_rule" in codes, codes


@pytest.mark.parametrize("text, readings", [
    ("EUR 12.400,00", [12400.0]), ("$12,400", [12400.0, 12.4]), ("12400.00 usd", [12400.0]),
    ("1,5", [1.5]), ("1,000,000.50", [1000000.5]), ("INV-2024", []), ("1.2.3", []), ("n/a", []),
])
def test_number_readings(text: str, readings: list[float]) -> None:
    assert _number_readings(text) == readings


@pytest.fixture(scope="module")
def deny_gate(tmp_path_factory: pytest.TempPathFactory) -> Gate:
    d = tmp_path_factory.mktemp("pdeny")
    (d / "db.yaml").write_text(yaml.safe_dump({
        "agent": "db", "identity": "Runs read-only reporting queries on the analytics database.",
        "tools": [{"name": "run_sql", "description": "Run a reporting query",
                   "constraints": [{"arg": "sql", "pattern_deny": ["(?i)\\bdrop\\s+table\\b"]}]},
                  {"name": "post_note", "description": "Post a note to the team channel",
                   "constraints": [{"arg": "text", "pattern_deny": ["(?i)password"], "on_violation": "redact"}]}],
    }))
    return Gate.from_policies(d, Settings(audit_path=None))


@pytest.mark.parametrize("sql, stopped", [
    ("DROP TABLE users", True), ("dr\u200bop table users", True), ("\uff24\uff32\uff2f\uff30 table users", True),
    ("select count(*) from users", False), ("select 'caf\u00e9' from menu", False),
])
def test_pattern_deny_sees_folded_text(deny_gate: Gate, sql: str, stopped: bool) -> None:
    d = deny_gate.check({"agent": "db", "action": {"tool": "run_sql", "args": {"sql": sql}}})
    assert (d.decision == "BLOCK") is stopped, (sql, d.decision, [r["code"] for r in d.reasons])


def test_pattern_deny_redacts_what_it_can_and_refuses_what_it_cannot(deny_gate: Gate) -> None:
    d = deny_gate.check({"agent": "db", "action": {"tool": "post_note", "args": {"text": "the password rotates today"}}})
    assert d.decision == "REWRITE" and "password" not in d.action["args"]["text"]
    d = deny_gate.check({"agent": "db", "action": {"tool": "post_note", "args": {"text": "the pass\u200bword rotates today"}}})
    assert d.decision == "BLOCK", d.decision
