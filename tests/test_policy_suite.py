"""`gate policy test`: YAML files of calls and the decision each must get, run against policies."""

from __future__ import annotations

from pathlib import Path

import pytest

from gate.cli import main
from gate.policy.suite import SuiteError, load_tests

ROOT = Path(__file__).resolve().parent.parent
POLICIES = str(ROOT / "policies")
# a read the billing assistant may make, and a test that wrongly expects a denied transfer to pass
ONE_PASS_ONE_FAIL = """
- name: reads are fine
  agent: billing-assistant
  action: {tool: read_invoice, args: {invoice_id: INV-1}}
  expect: ALLOW
- name: claims a transfer is fine
  agent: billing-assistant
  action: {tool: bank_transfer, args: {amount: 5000}}
  expect: ALLOW
  rationale: a wrong test, on purpose
"""


def _run(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    f = tmp_path / "suite.yaml"
    f.write_text(text)
    rc = main(["policy", "test", str(f), "--policies", POLICIES, *extra])
    return rc, capsys.readouterr().out


def test_the_shipped_example_tests_pass(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["policy", "test", str(ROOT / "policies" / "tests"), "--policies", POLICIES])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "0 failed" in out and "FAIL" not in out


def test_a_wrong_expectation_fails_with_its_file_line_and_what_was_decided(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = _run(tmp_path, ONE_PASS_ONE_FAIL, capsys)
    assert rc == 1
    assert "suite.yaml:6: claims a transfer is fine" in out
    assert "expected ALLOW, got BLOCK (deny_rule" in out
    assert "(a wrong test, on purpose)" in out
    assert "1 passed, 1 failed" in out


def test_quiet_prints_only_failures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = _run(tmp_path, """
- name: reads are fine
  agent: billing-assistant
  action: {tool: read_invoice, args: {invoice_id: INV-1}}
  expect: allow
""", capsys, "-q")
    assert rc == 0
    assert out.strip() == "1 passed, 0 failed"


def test_required_reason_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = _run(tmp_path, """
- name: right decision, right reason
  agent: billing-assistant
  action: {tool: bank_transfer, args: {amount: 5000}}
  expect: BLOCK
  codes: [deny_rule]
- name: right decision, wrong reason
  agent: billing-assistant
  action: {tool: bank_transfer, args: {amount: 5000}}
  expect: BLOCK
  codes: [deny_rule, tool_not_declared]
""", capsys)
    assert rc == 1
    assert "reason code(s) tool_not_declared missing" in out
    assert "1 passed, 1 failed" in out


def test_rewrite_expectations_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = _run(tmp_path, """
- name: clamped to the cap
  agent: billing-assistant
  action: {tool: issue_refund, args: {invoice_id: INV-1, amount: 250, currency: USD}}
  expect: REWRITE
  rewrite: {args: {amount: 100}}
- name: a wrong idea of the clamp
  agent: billing-assistant
  action: {tool: issue_refund, args: {invoice_id: INV-1, amount: 250, currency: USD}}
  expect: REWRITE
  rewrite: {args: {amount: 50, reason: refund}, must_not_contain: ["INV-1"]}
""", capsys)
    assert rc == 1
    assert "args.amount is 100, expected 50" in out
    assert "args.reason is missing, expected 'refund'" in out
    assert "still contain 'INV-1'" in out
    assert "1 passed, 1 failed" in out


def test_history_runs_in_one_session_and_results_are_observed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the flow rule of the example coding assistant depends on an observed result
    rc, out = _run(tmp_path, """
- name: tests failed, push stopped
  agent: coding-assistant
  history:
    - action: {tool: run_shell, args: {command: "pytest -q"}}
      result: "3 failed, 9 passed"
  action: {tool: git_push, args: {branch: feature/x}}
  expect: BLOCK
  codes: [deny_rule]
- name: the same push in its own session is fine
  agent: coding-assistant
  action: {tool: git_push, args: {branch: feature/x}}
  expect: ALLOW
""", capsys)
    assert rc == 0, out


def test_a_blocked_history_step_fails_unless_it_expects_block(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = _run(tmp_path, """
- name: an unexpected stop on the way
  agent: billing-assistant
  history:
    - action: {tool: bank_transfer, args: {amount: 5000}}
  action: {tool: read_invoice, args: {invoice_id: INV-1}}
  expect: BLOCK
- name: an expected stop on the way
  agent: billing-assistant
  history:
    - action: {tool: bank_transfer, args: {amount: 5000}}
      expect: BLOCK
  action: {tool: read_invoice, args: {invoice_id: INV-1}}
  expect: ALLOW
""", capsys)
    assert rc == 1
    assert "history step 1 (line 5) was blocked (deny_rule" in out
    assert "1 passed, 1 failed" in out


def test_a_request_the_gate_refuses_fails_its_test(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = _run(tmp_path, """
- name: no such agent
  agent: nobody
  action: {tool: read_invoice}
  expect: ALLOW
""", capsys)
    assert rc == 1
    assert "the gate refused the request: unknown_agent" in out


def test_bad_test_files_list_every_problem_with_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = _run(tmp_path, """
- name: typo in a key
  agent: billing-assistant
  action: {tool: read_invoice}
  expcet: ALLOW
- agent: billing-assistant
  action: {args: {}}
  expect: MAYBE
- name: bad step
  agent: billing-assistant
  history:
    - action: {tool: read_invoice}
      outcome: fine
  action: {tool: read_invoice}
  expect: ALLOW
""", capsys)
    assert rc == 2
    assert "suite.yaml:5: unknown field 'expcet'" in out
    assert "suite.yaml:2: expect is required" in out
    assert "suite.yaml:7: action must be a mapping with a non-empty `tool`" in out
    assert "suite.yaml:6: expect must be one of ALLOW, BLOCK, REWRITE (got 'MAYBE')" in out
    assert "suite.yaml:13: unknown field 'outcome' in a history step" in out
    assert "5 problem(s) in the test files" in out


def test_yaml_errors_and_wrong_shapes_are_refused(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("- name: [unclosed\n")
    (tmp_path / "mapping.yaml").write_text("agent: billing-assistant\n")
    with pytest.raises(SuiteError) as exc:
        load_tests([tmp_path])
    problems = "\n".join(exc.value.problems)
    assert "broken.yaml:2: YAML syntax error" in problems
    assert "mapping.yaml:1: a test file is a YAML list of tests" in problems
    with pytest.raises(SuiteError, match="no test files given"):
        load_tests([])


def test_a_tests_mapping_and_benchmark_case_files_load(tmp_path: Path) -> None:
    (tmp_path / "wrapped.yaml").write_text("tests:\n  - agent: a\n    action: {tool: t}\n    expect: BLOCK\n")
    (wrapped,) = load_tests([tmp_path / "wrapped.yaml"])
    assert (wrapped.name, wrapped.line, wrapped.expect) == ("wrapped.yaml:2", 2, "BLOCK")
    # the benchmark's cases are valid test files: `id` names a test, `expected` is read as `expect`
    tests = load_tests([ROOT / "bench" / "cases" / "business_billing.yaml"])
    assert len(tests) > 20
    assert all(t.name and t.expect in ("ALLOW", "BLOCK", "REWRITE") for t in tests)


def test_junit_report_for_ci(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import xml.etree.ElementTree as ET

    report = tmp_path / "report.xml"
    rc, _ = _run(tmp_path, ONE_PASS_ONE_FAIL, capsys, "--junit", str(report))
    assert rc == 1
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures")) == ("2", "1")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["reads are fine", "claims a transfer is fine"]
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure is not None and failure.get("message", "").startswith("expected ALLOW, got BLOCK")
    assert cases[1].get("line") == "6"


def test_anchored_history_loads_and_deep_nesting_is_refused(tmp_path: Path) -> None:
    # one parse per file: a merge key shares a step's fields, and lines still point at each test
    (tmp_path / "anchored.yaml").write_text(
        "- &base\n  agent: a\n  action: {tool: t}\n  expect: ALLOW\n"
        "- <<: *base\n  expect: BLOCK\n")
    first, second = load_tests([tmp_path / "anchored.yaml"])
    assert (first.line, first.expect, second.line, second.expect, second.agent) == (1, "ALLOW", 5, "BLOCK", "a")
    (tmp_path / "deep.yaml").write_text("- agent: a\n  action: " + "[" * 3000 + "]" * 3000 + "\n")
    with pytest.raises(SuiteError) as exc:
        load_tests([tmp_path / "deep.yaml"])
    assert "deep.yaml:" in exc.value.problems[0]
