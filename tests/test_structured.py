"""Dangers visible in a call's structure: admin grants, bank-detail changes, personal-data
exports, sanctioned jurisdictions, bulk reads of regulated data, and their near-misses."""

from __future__ import annotations

from pathlib import Path

import pytest

from gate import Gate
from gate.settings import Settings

POLICY = """
agent: ops
identity: Back-office operations agent. Keeps vendor records, pays approved invoices, runs HR reports.
tools:
  - {name: assign_role, description: Assign a role to a user}
  - {name: update_vendor, description: Update a vendor record}
  - {name: pay_invoice, description: Pay an approved vendor invoice, effect: {verb: pay}}
  - {name: export_report, description: Export an HR report}
  - {name: search_patients, description: Search patient records, effect: {verb: read, sensitivity: regulated}}
"""


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Gate:
    d: Path = tmp_path_factory.mktemp("structured")
    (d / "ops.yaml").write_text(POLICY)
    return Gate.from_policies(d, Settings(audit_path=None))


@pytest.mark.parametrize("tool, args, code", [
    ("assign_role", {"user": "mallory@x.io", "role": "Super Admin"}, "admin_grant"),
    ("update_vendor", {"vendor_id": "V-1", "bank": {"iban": "GB33BUKB20201555555555"}}, "bank_details_change"),
    ("export_report", {"report": "headcount", "columns": ["full_name", "ssn", "date_of_birth"]}, "pii_bulk_export"),
    ("pay_invoice", {"invoice_id": "AP-1", "amount": 900, "reference": "Distributor Tehran Q2"}, "sanctioned_jurisdiction"),
    ("search_patients", {"name": "*", "limit": 500}, "bulk_regulated_data"),
])
def test_structural_dangers_block(gate: Gate, tool: str, args: dict, code: str) -> None:
    d = gate.check({"agent": "ops", "action": {"tool": tool, "args": args}})
    assert d.decision == "BLOCK"
    assert d.reasons[0]["code"] == "dangerous_operation" and code in d.reasons[0]["message"]


@pytest.mark.parametrize("tool, args", [
    ("assign_role", {"user": "ann@x.io", "role": "viewer"}),
    ("update_vendor", {"vendor_id": "V-1", "contact_email": "ap@vendor.example"}),
    ("export_report", {"report": "headcount", "columns": ["team", "start_date"]}),
    ("pay_invoice", {"invoice_id": "AP-2", "amount": 900, "reference": "Iranian-style rugs for the lobby"}),
    ("search_patients", {"name": "Daniel Cho", "limit": 10}),
])
def test_near_misses_are_not_dangers(gate: Gate, tool: str, args: dict) -> None:
    d = gate.check({"agent": "ops", "action": {"tool": tool, "args": args}})
    assert all(r["code"] != "dangerous_operation" for r in d.reasons), d.reasons


def test_a_policy_may_allow_a_named_builtin_operation(tmp_path: Path) -> None:
    (tmp_path / "dba.yaml").write_text(
        "agent: dba\nidentity: Maintains the staging database.\nallow_operations: [sql_truncate]\n"
        "tools:\n  - {name: run_sql, description: Run SQL on staging}\n")
    g = Gate.from_policies(tmp_path, Settings(audit_path=None))
    ok = g.check({"agent": "dba", "action": {"tool": "run_sql", "args": {"sql": "TRUNCATE TABLE scratch.tmp"}}})
    still = g.check({"agent": "dba", "action": {"tool": "run_sql", "args": {"sql": "DROP TABLE customers"}}})
    assert all(r["code"] != "dangerous_operation" for r in ok.reasons)
    assert still.decision == "BLOCK" and "sql_drop" in still.reasons[0]["message"]


def test_an_unknown_operation_code_is_refused_at_its_line(tmp_path: Path) -> None:
    from gate.errors import PolicyError
    from gate.policy.loader import load_policies

    (tmp_path / "dba.yaml").write_text("agent: dba\nidentity: Maintains the staging database.\nallow_operations:\n  - sql_truncate\n  - drop_everything\n")
    with pytest.raises(PolicyError) as err:
        load_policies(tmp_path)
    assert [(i.line, "drop_everything" in i.message) for i in err.value.issues] == [(5, True)]
