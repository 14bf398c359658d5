"""Policy loading: the minimal form loads, invalid directories are refused with every error by
file and line (library and `gate policy lint`), and the published schema is the shipped one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from gate.errors import PolicyError
from gate.policy.loader import load_policies, load_policy_file, policy_schema

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
BAD = Path(__file__).resolve().parent / "fixtures" / "policies_bad"

# DESIGN.md's minimal form, verbatim.
MINIMAL = """\
agent: billing-assistant          # the id requests use
identity: |                       # who the agent is and what it is for
  Customer billing assistant for ACME. Reads invoices, answers billing questions,
  issues refunds up to 100 USD.
tools:                            # optional. When present, only these tools are in scope.
  - name: read_invoice
    description: Read one invoice by id     # optional
  - name: issue_refund
"""


def issues_of(directory: Path) -> list[tuple[str, int, str]]:
    with pytest.raises(PolicyError) as info:
        load_policies(directory)
    return [(Path(i.file).name, i.line, i.message) for i in info.value.issues]


def lint(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gate.cli", "policy", "lint", str(directory)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


# --- the minimal form and the examples --------------------------------------------------------

def test_design_minimal_policy_loads(tmp_path: Path) -> None:
    (tmp_path / "billing.yaml").write_text(MINIMAL)
    [p] = load_policies(tmp_path)
    assert p.agent == "billing-assistant"
    assert p.identity.startswith("Customer billing assistant for ACME.")
    assert [(t.name, t.description) for t in p.tools or ()] == [("read_invoice", "Read one invoice by id"), ("issue_refund", "")]
    assert (p.deny, p.purposes, p.task_category, p.redact_secrets, p.redact_pii) == ((), (), "general", "rewrite", "rewrite")


def test_identity_only_policy_has_no_allowlist(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("agent: a\nidentity: Rotates logs.\n")
    assert load_policy_file(tmp_path / "a.yaml").tools is None


def test_example_policies_load_and_cover_the_brief() -> None:
    pols = {p.agent: p for p in load_policies(POLICIES)}
    assert {"billing-assistant", "sre-oncall", "hr-assistant", "coding-assistant", "sales-email",
            "minimal-agent", "log-janitor"} <= set(pols)
    assert pols["log-janitor"].tools is None
    minimal = yaml.safe_load((POLICIES / "minimal-agent.yaml").read_text())
    assert set(minimal) == {"agent", "identity", "tools"}
    assert all(set(t) <= {"name", "description"} for t in minimal["tools"])
    refund = next(t for t in pols["billing-assistant"].tools or () if t.name == "issue_refund")
    assert any(c.arg == "amount" and c.max == 100 and c.on_violation == "clamp" for c in refund.constraints)


def test_example_policies_validate_against_the_published_schema() -> None:
    schema = json.loads((POLICIES / "policy.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    files = sorted(POLICIES.glob("*.yaml"))
    assert len(files) >= 7
    for f in files:
        assert list(validator.iter_errors(yaml.safe_load(f.read_text()))) == [], f.name


def test_published_schema_is_the_shipped_schema() -> None:
    shipped = ROOT / "gate" / "data" / "policy.schema.json"
    assert (POLICIES / "policy.schema.json").read_bytes() == shipped.read_bytes()
    assert policy_schema() == json.loads(shipped.read_text())


def test_lint_accepts_the_examples() -> None:
    out = lint(POLICIES)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("ok  ") == len(list(POLICIES.glob("*.yaml")))
    assert "agent log-janitor (no tool list)" in out.stdout


# --- every error, by file and line --------------------------------------------------------------

SPLIT_ISSUES = [
    ("schema_errors.yaml", 4, "unknown field 'colour'"),
    ("schema_errors.yaml", 7, "42 is not of type 'string'"),
    ("schema_errors.yaml", 11, "'one hundred' is not of type 'number'"),
    ("semantic_errors.yaml", 7, "invalid regex '(?i)drop\\\\s+(table'"),
    ("semantic_errors.yaml", 11, "min 100 is greater than max 10"),
    ("semantic_errors.yaml", 14, "duplicate tool name 'query_db'"),
    ("syntax.yaml", 7, "YAML syntax error"),
]


def test_load_policies_lists_every_error_with_file_and_line() -> None:
    got = issues_of(BAD / "split")
    assert len(got) == len(SPLIT_ISSUES), got
    for (file, line, message), (gfile, gline, gmessage) in zip(SPLIT_ISSUES, got):
        assert (gfile, gline) == (file, line), (gfile, gline, gmessage)
        assert gmessage.startswith(message), gmessage


def test_policy_error_message_lists_every_issue() -> None:
    with pytest.raises(PolicyError) as info:
        load_policies(BAD / "split")
    msg = info.value.message
    assert msg.startswith("7 policy error(s):")
    assert "schema_errors.yaml:7 at tools[0].description:" in msg
    assert "semantic_errors.yaml:14 at tools[2].name: duplicate tool name" in msg
    assert info.value.code == "policy_invalid"


def test_lint_prints_every_error_and_exits_1() -> None:
    out = lint(BAD / "split")
    assert out.returncode == 1
    lines = out.stdout.strip().splitlines()
    assert lines[-1] == "7 error(s)"
    for (file, line, message), printed in zip(SPLIT_ISSUES, lines):
        assert f"{file}:{line}" in printed and message in printed, printed


def test_unknown_field_is_reported_at_its_line() -> None:
    got = issues_of(BAD / "split")
    assert ("schema_errors.yaml", 4) in {(f, line) for f, line, _ in got}


def test_schema_and_semantic_errors_in_one_file_are_all_listed() -> None:
    got = {(f, line) for f, line, _ in issues_of(BAD / "mixed")}
    assert {("all_errors.yaml", 7), ("all_errors.yaml", 10), ("all_errors.yaml", 14),
            ("all_errors.yaml", 17), ("syntax.yaml", 7)} <= got


def test_mixed_file_reports_every_error_in_line_order() -> None:
    got = issues_of(BAD / "mixed")
    assert [(f, line) for f, line, _ in got] == [("all_errors.yaml", 4), ("all_errors.yaml", 7), ("all_errors.yaml", 10),
                                                 ("all_errors.yaml", 14), ("all_errors.yaml", 17), ("syntax.yaml", 7)]


def test_two_files_declaring_one_agent_are_refused() -> None:
    assert issues_of(BAD / "duplicate_agent") == [("b.yaml", 1, f"agent 'twin' is already defined in {BAD / 'duplicate_agent' / 'a.yaml'}")]


def test_empty_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a policy")
    assert issues_of(tmp_path) == [(tmp_path.name, 0, "no *.yaml policy files found")]
    out = lint(tmp_path)
    assert out.returncode == 1 and "no *.yaml policy files found" in out.stdout


def test_missing_directory_is_refused(tmp_path: Path) -> None:
    assert issues_of(tmp_path / "nope") == [("nope", 0, "not a directory")]


@pytest.mark.parametrize("text,fragment", [
    ("- just\n- a list\n", "must be a YAML mapping"),
    ("agent: x\n", "'identity' is a required property"),
    ("agent: x\nidentity: y\ntask_category: finance\n", "is not one of"),
    ("agent: x\nidentity: y\ntools:\n  - name: t\n    constraints:\n      - arg: a\n        on_violation: clamp\n",
     "on_violation: clamp needs min or max"),
    ("agent: x\nidentity: y\ndeny:\n  - id: r\n", "a deny rule needs `tool`, `when` or both"),
    ("agent: x\nidentity: y\ndeny:\n  - tool: t\n    when:\n      a: {matches: '(['}\n", "invalid regex"),
    ("agent: x\nidentity: y\ndeny:\n  - tool: t\n    unless_task: '(['\n", "invalid regex"),
    ("agent: x\nidentity: y\ndeny:\n  - tool: []\n", "not valid under any of the given schemas"),
])
def test_single_file_errors(tmp_path: Path, text: str, fragment: str) -> None:
    (tmp_path / "p.yaml").write_text(text)
    got = issues_of(tmp_path)
    assert any(fragment in m for _, _, m in got), got


def test_tools_left_empty_means_no_tool_list(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("agent: e2\nidentity: Answers questions about the weather.\ntools:\n")
    [pol] = load_policies(tmp_path)
    assert pol.tools is None


# --- YAML that reads without complaint but would crash, hang or quietly weaken the gate ----------

_H = "agent: x\nidentity: Pays supplier invoices.\n"
_T = _H + "tools:\n  - name: t\n"
_BOMB = "".join(f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdef", "bcdefg"))


@pytest.mark.parametrize("text,line,fragment", [
    # aliases: a "billion laughs" and an alias inside the node it names (each used to hang or recurse)
    (_H + "a: &a [x, x, x, x, x, x, x, x, x]\n" + _BOMB + "purposes: *g\n", 8, "aliases expand this document past 100,000 values"),
    (_H + "tools: &t\n  - name: a\n    description: *t\n", 5, "an alias refers to a node that contains it"),
    # nesting PyYAML cannot compose (a RecursionError traceback)
    (_H + "purposes: " + "[" * 3000 + "]" * 3000 + "\n", 1, "nests too deep"),
    # a key given twice: YAML keeps the last, silently (here: a cap of 100 became 100,000)
    (_T + "    constraints:\n      - arg: a\n        max: 100\n        max: 100000\n", 8, "duplicate key 'max' (first on line 7)"),
    (_H + "agent: y\n", 3, "duplicate key 'agent' (first on line 1)"),
    # numbers a comparison cannot use: `gt: .nan` never matches, `max: .nan` never clamps
    (_T + "    constraints:\n      - arg: a\n        max: .nan\n", 7, "nan is not a finite number"),
    (_H + "deny:\n  - tool: t\n    when:\n      a: {gt: .inf}\n", 6, "inf is not a finite number"),
    # an integer beyond a float: an OverflowError traceback when the quota was built
    (_H + "quotas:\n  - id: q\n    tool: t\n    sum: a\n    max_total: 1" + "0" * 400 + "\n", 7, "beyond the range of a 64-bit float"),
    # a key YAML reads as a number, boolean or null: a TypeError on every later call of the tool
    (_H + "deny:\n  - tool: t\n    when:\n      5: {equals: 1}\n", 5, "key 5 is not text"),
    (_H + "deny:\n  - tool: t\n    when:\n      yes: {equals: 1}\n", 5, "key True is not text"),
    # YAML values that are not JSON: a ValueError when the schema was compiled
    (_T + "    args_schema:\n      type: object\n      properties:\n        a: {const: 2024-01-01}\n", 8, "a date is not a JSON value"),
    # an args_schema jsonschema-rs cannot compile: lint said ok, then `gate serve` died with a traceback
    (_T + "    args_schema:\n      $ref: '#/$defs/nope'\n", 5, "JSON Schema gate cannot compile: Pointer '/$defs/nope' does not exist"),
    # an enum of mappings: `unhashable type: 'dict'` on every call of the tool
    (_T + "    constraints:\n      - arg: a\n        enum: [a, {x: 1}]\n", 7, "is not of type 'string', 'number', 'boolean', 'null'"),
])
def test_yaml_that_would_crash_hang_or_weaken_the_gate_is_refused_by_line(tmp_path: Path, text: str, line: int,
                                                                           fragment: str) -> None:
    (tmp_path / "p.yaml").write_text(text)
    got = issues_of(tmp_path)
    assert any(gline == line and fragment in m for _, gline, m in got), got


@pytest.mark.parametrize("ref", ["http://127.0.0.1:9/schema.json", "file:///etc/hostname"])
def test_an_args_schema_ref_is_never_fetched_or_read(tmp_path: Path, ref: str) -> None:
    (tmp_path / "p.yaml").write_text(_T + f"    args_schema:\n      $ref: '{ref}'\n")
    [(_, line, message)] = issues_of(tmp_path)
    assert line == 5 and "Retrieval is disabled" in message


def test_lint_lists_a_recursive_alias_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(_H + "tools: &t\n  - name: a\n    description: *t\n")
    out = lint(tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert out.stdout.splitlines() == [f"{tmp_path / 'p.yaml'}:5: an alias refers to a node that contains it "
                                       "(a recursive structure)", "1 error(s)"]
