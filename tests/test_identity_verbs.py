"""An agent with no tool list may only take irreversible actions (pay, grant, delete, send) of a
kind its identity speaks about: a log janitor issues no refunds, however its text resonates."""

from __future__ import annotations

from pathlib import Path

import pytest

from gate import Gate
from gate.core.compiler import identity_verbs
from gate.policy.loader import load_policies
from gate.settings import Settings
from replay import codes, gate_from_yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def examples() -> Gate:
    return Gate.from_policies(ROOT / "policies", Settings(audit_path=None))


def test_identity_verbs_come_from_what_it_does_and_the_verbs_it_bounds() -> None:
    pols = {p.agent: p for p in load_policies(ROOT / "policies")}
    # "Rotates, compresses and archives ... restarts ...; it does not touch customer data, money ..."
    assert identity_verbs(pols["log-janitor"]) == {"configure", "delete", "execute", "write"}


@pytest.mark.parametrize("tool,args", [
    ("issue_refund", {"customer_id": "CUS-1", "amount": 500}),
    ("wire_transfer", {"to_account": "GB29NWBK60161331926819", "amount": 90}),
    ("grant_role", {"user": "kim", "role": "viewer"}),
    ("send_email", {"to": "kim@example.org", "body": "disk report"}),
])
def test_an_identity_only_agent_is_stopped_outside_the_verbs_it_states(examples: Gate, tool: str, args: dict) -> None:
    d = examples.check({"agent": "log-janitor", "action": {"tool": tool, "args": args}})
    assert d.decision == "BLOCK"
    assert "verb_outside_identity" in codes(d)
    reason = next(r for r in d.reasons if r["code"] == "verb_outside_identity")
    assert "log-janitor" in reason["message"] and "GB29" not in reason["message"]


@pytest.mark.parametrize("tool,args", [
    ("compress_logs", {"path": "/var/log/nginx/access.log.1"}),
    ("archive_logs", {"path": "/var/log/app/2026-10.log.gz", "bucket": "log-archive"}),
    ("restart_log_shipper", {"host": "web-3"}),
])
def test_its_own_work_is_not_stopped_by_the_rule(examples: Gate, tool: str, args: dict) -> None:
    d = examples.check({"agent": "log-janitor", "action": {"tool": tool, "args": args}})
    assert "verb_outside_identity" not in codes(d)
    assert d.decision == "ALLOW"


BOUNDED = """
agent: helpdesk
identity: |
  IT helpdesk agent. Resets passwords and unlocks accounts for employees.
  It must never grant admin or owner roles.
"""


def test_a_prohibition_bounds_a_verb_rather_than_excluding_it(tmp_path: Path) -> None:
    gate = gate_from_yaml(tmp_path, BOUNDED)
    # granting is bounded by "never grant admin or owner roles": this rule leaves it to the
    # prohibition and semantic checks; paying is nowhere in the text
    d = gate.check({"agent": "helpdesk", "action": {"tool": "grant_role", "args": {"user": "kim", "role": "printer-users"}}})
    assert "verb_outside_identity" not in codes(d)
    d = gate.check({"agent": "helpdesk", "action": {"tool": "pay_invoice", "args": {"invoice": "INV-1", "amount": 10}}})
    assert d.decision == "BLOCK" and "verb_outside_identity" in codes(d)


def test_declared_tools_are_not_judged_by_the_identity_verbs(examples: Gate) -> None:
    # the billing assistant declares send_customer_email; its identity's verbs are not consulted
    d = examples.check({"agent": "billing-assistant", "action": {"tool": "send_customer_email", "args": {
        "to": "jo@example.org", "subject": "Your invoice", "body": "Your invoice INV-1009 is attached."}}})
    assert d.decision == "ALLOW"
