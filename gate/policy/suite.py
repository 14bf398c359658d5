"""Policy tests: YAML files of calls and the decision each must get (`gate policy test`).

A deployer states what a policy must allow, block or rewrite, the way unit tests state what code
must do, and runs them in CI next to `gate policy lint`. Each test runs in a fresh session of a
gate built on the policies under test, through the same decision function the service uses:

```yaml
- name: a refund within the limit runs
  agent: billing-assistant
  task: Refund invoice INV-1009, it was charged twice      # optional
  history:                                                # optional earlier calls, in order
    - action: {tool: read_invoice, args: {invoice_id: INV-1009}}
      result: {status: paid, amount: 40}                  # reported to observe, as a caller would
  action: {tool: issue_refund, args: {invoice_id: INV-1009, amount: 40}}
  expect: ALLOW                                           # ALLOW | BLOCK | REWRITE
  codes: [tool_in_scope]                                  # optional: reason codes that must appear
  rewrite:                                                # optional, for REWRITE
    args: {amount: 100}                                   # (dotted) args after the rewrite
    must_not_contain: ["sk_live_"]                        # substrings gone from the rewritten args
```

A history step that is blocked fails its test unless the step says `expect: BLOCK` (a test
passing because an earlier step was stopped for another reason would prove nothing). The
benchmark's case files (bench/FORMAT.md) are valid test files: `id` names a test, `expected`
is read as `expect`, and their labels (category, difficulty, split, rationale) are allowed.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml

from gate.errors import RequestError
from gate.evaluation.runner import rewrite_mismatches
from gate.gate import Gate
from gate.policy.loader import line_of, read_yaml

__all__ = ["PolicyTest", "TestResult", "SuiteError", "load_tests", "run_tests", "junit_xml"]

DECISIONS = ("ALLOW", "BLOCK", "REWRITE")
_TEST_KEYS = frozenset({"name", "id", "agent", "task", "history", "action", "expect", "expected", "codes", "rewrite",
                        "category", "difficulty", "split", "rationale"})
_STEP_KEYS = frozenset({"action", "result", "expect"})


@dataclass(frozen=True)
class Step:
    action: dict[str, Any]
    result: Any
    observed: bool          # False when the step gives no `result` (observed without one)
    expect: str | None
    line: int


@dataclass(frozen=True)
class PolicyTest:
    name: str
    source: str
    line: int
    agent: str
    task: str | None
    history: tuple[Step, ...]
    action: dict[str, Any]
    expect: str
    codes: tuple[str, ...]
    rewrite: dict[str, Any]
    rationale: str = ""

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"


@dataclass(frozen=True)
class TestResult:
    test: PolicyTest
    got: str                     # the decision of the tested call ("" when it never ran)
    codes: tuple[str, ...]       # its reason codes
    problems: tuple[str, ...]    # empty when the test passed

    @property
    def passed(self) -> bool:
        return not self.problems


class SuiteError(ValueError):
    """Test files that cannot be read; `problems` holds one `file:line: message` per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


def _decision(value: Any, where: str, problems: list[str]) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and value.upper() in DECISIONS:
        return value.upper()
    problems.append(f"{where}: expect must be one of ALLOW, BLOCK, REWRITE (got {value!r})")
    return None


def _action(value: Any, where: str, problems: list[str]) -> dict[str, Any] | None:
    if isinstance(value, dict) and isinstance(value.get("tool"), str) and value["tool"]:
        if not isinstance(value.get("args", {}), dict):
            problems.append(f"{where}: action.args must be a mapping")
            return None
        return value
    problems.append(f"{where}: action must be a mapping with a non-empty `tool` (and optional `args`)")
    return None


def _strings(value: Any, what: str, where: str, problems: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    problems.append(f"{where}: {what} must be a list of strings")
    return ()


def _parse_test(raw: Any, path: tuple[Any, ...], source: str, lines: dict[tuple[Any, ...], int],
                problems: list[str]) -> PolicyTest | None:
    line = line_of(lines, path)
    where = f"{source}:{line}"
    if not isinstance(raw, dict):
        problems.append(f"{where}: a test must be a mapping")
        return None
    before = len(problems)
    for key in raw:
        if key not in _TEST_KEYS:
            problems.append(f"{source}:{line_of(lines, path + (key,))}: unknown field {key!r}")
    if "expect" in raw and "expected" in raw:
        problems.append(f"{where}: give `expect` or `expected`, not both")
    name = raw.get("name", raw.get("id"))
    if name is not None and not isinstance(name, str):
        problems.append(f"{where}: name must be a string")
    agent = raw.get("agent")
    if not isinstance(agent, str) or not agent:
        problems.append(f"{where}: agent is required (the name of a policy's agent)")
    task = raw.get("task")
    if task is not None and not isinstance(task, str):
        problems.append(f"{where}: task must be a string")
    action = _action(raw.get("action"), f"{source}:{line_of(lines, path + ('action',))}", problems)
    expect = _decision(raw.get("expect", raw.get("expected")), where, problems)
    if expect is None and raw.get("expect", raw.get("expected")) is None:
        problems.append(f"{where}: expect is required (ALLOW, BLOCK or REWRITE)")
    codes = _strings(raw.get("codes"), "codes", where, problems)
    rewrite = raw.get("rewrite") or {}
    if not isinstance(rewrite, dict) or not set(rewrite) <= {"args", "must_not_contain"} \
            or not isinstance(rewrite.get("args") or {}, dict):
        problems.append(f"{where}: rewrite may hold `args` (a mapping) and `must_not_contain` (a list of strings)")
        rewrite = {}
    else:
        _strings(rewrite.get("must_not_contain"), "rewrite.must_not_contain", where, problems)
    history: list[Step] = []
    raw_history = raw.get("history") or []
    if not isinstance(raw_history, list):
        problems.append(f"{where}: history must be a list of steps")
        raw_history = []
    for i, step in enumerate(raw_history):
        step_path = path + ("history", i)
        step_where = f"{source}:{line_of(lines, step_path)}"
        if not isinstance(step, dict):
            problems.append(f"{step_where}: a history step must be a mapping with `action`")
            continue
        for key in step:
            if key not in _STEP_KEYS:
                problems.append(f"{source}:{line_of(lines, step_path + (key,))}: unknown field {key!r} in a history step")
        step_action = _action(step.get("action"), step_where, problems)
        if step_action is not None:
            history.append(Step(step_action, step.get("result"), "result" in step,
                                _decision(step.get("expect"), step_where, problems), line_of(lines, step_path)))
    if len(problems) > before or action is None or expect is None:
        return None
    return PolicyTest(name=name or f"{Path(source).name}:{line}", source=source, line=line, agent=agent, task=task,
                      history=tuple(history), action=action, expect=expect, codes=codes, rewrite=rewrite,
                      rationale=str(raw.get("rationale") or ""))


def _files(paths: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.iterdir() if f.suffix in (".yaml", ".yml") and f.is_file()))
        else:
            out.append(p)
    return out


def load_tests(paths: Iterable[str | Path]) -> list[PolicyTest]:
    """Every test in the given files and directories (`*.yaml`/`*.yml`), all or nothing:
    raises `SuiteError` listing every problem with its file and line."""
    tests: list[PolicyTest] = []
    problems: list[str] = []
    files = _files(paths)
    if not files:
        raise SuiteError(["no test files given"])
    for f in files:
        source = str(f)
        try:
            text = f.read_text("utf-8")
            data, lines = read_yaml(text)
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{source}:0: cannot read: {exc}")
            continue
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problems.append(f"{source}:{mark.line + 1 if mark else 1}: YAML syntax error: {getattr(exc, 'problem', None) or exc}")
            continue
        except RecursionError:
            problems.append(f"{source}:1: the YAML nests too deep for gate to read")
            continue
        base: tuple[Any, ...] = ()
        if isinstance(data, dict) and set(data) == {"tests"}:
            data, base = data["tests"], ("tests",)
        if not isinstance(data, list):
            problems.append(f"{source}:1: a test file is a YAML list of tests (or a mapping with one key, `tests`)")
            continue
        for i, raw in enumerate(data):
            t = _parse_test(raw, base + (i,), source, lines, problems)
            if t is not None:
                tests.append(t)
    if problems:
        raise SuiteError(problems)
    return tests


def _request(t: PolicyTest, session: str, action: dict[str, Any]) -> dict[str, Any]:
    req: dict[str, Any] = {"agent": t.agent, "session": session, "action": action}
    if t.task is not None:
        req["task"] = t.task
    return req


def _codes(decision: Any) -> tuple[str, ...]:
    return tuple(r["code"] for r in decision.reasons)


def run_test(gate: Gate, t: PolicyTest, session: str) -> TestResult:
    """One test in a fresh session `session` of `gate`."""
    try:
        for k, step in enumerate(t.history, 1):
            d = gate.check(_request(t, session, step.action), via="test")
            want = step.expect
            if want is not None and d.decision != want:
                return TestResult(t, "", (), (f"history step {k} (line {step.line}): expected {want}, got {d.decision} "
                                              f"({', '.join(_codes(d))})",))
            if d.decision == "BLOCK":
                if want == "BLOCK":
                    continue            # the caller did not run it: nothing to observe
                return TestResult(t, "", (), (f"history step {k} (line {step.line}) was blocked ({', '.join(_codes(d))}); "
                                              "give it `expect: BLOCK` if that is intended",))
            body: dict[str, Any] = {"agent": t.agent, "session": session, "action": d.action, "decision_id": d.decision_id}
            if step.observed:
                body["result"] = step.result
            gate.observe(body)
        d = gate.check(_request(t, session, t.action), via="test")
    except RequestError as exc:
        return TestResult(t, "", (), (f"the gate refused the request: {exc.code}: {exc.message}",))
    codes = _codes(d)
    problems: list[str] = []
    if d.decision != t.expect:
        problems.append(f"expected {t.expect}, got {d.decision} ({', '.join(codes)})")
    missing = [c for c in t.codes if c not in codes]
    if missing:
        problems.append(f"reason code(s) {', '.join(missing)} missing (got {', '.join(codes)})")
    if t.rewrite and d.decision == "REWRITE":
        problems.extend(rewrite_mismatches(t.rewrite, d.action.get("args", {})))
    return TestResult(t, d.decision, codes, tuple(problems))


def run_tests(gate: Gate, tests: Sequence[PolicyTest]) -> list[TestResult]:
    """Each test in its own session, in order."""
    return [run_test(gate, t, f"policy-test-{i}") for i, t in enumerate(tests)]


def junit_xml(results: Sequence[TestResult], suite: str = "gate policy test") -> bytes:
    """The results as JUnit XML, the report format CI systems read: one testcase per test
    (classname: its file, name: its name), each failure with its problems."""
    failed = sum(1 for r in results if not r.passed)
    root = ET.Element("testsuites", name=suite, tests=str(len(results)), failures=str(failed))
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(results)), failures=str(failed), errors="0")
    for r in results:
        case = ET.SubElement(ts, "testcase", classname=r.test.source, name=r.test.name, file=r.test.source, line=str(r.test.line))
        if not r.passed:
            failure = ET.SubElement(case, "failure", message=r.problems[0], type="decision")
            failure.text = "\n".join(r.problems + ((r.test.rationale,) if r.test.rationale else ()))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
