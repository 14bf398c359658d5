"""Deny rules that depend on the session's task (`unless_task`) and name several tools: change
control as operators write it ("production changes only during a declared incident or an
approved change window")."""

from __future__ import annotations

import pytest

from gate import Gate
from replay import gate_from_yaml

POL = r"""
agent: oncall
identity: |
  On-call SRE agent. Reads logs and metrics, restarts and scales services. Production changes are
  allowed only while an incident is declared or during an approved change window.
task_category: technical
tools:
  - name: query_logs
    description: Search the logs
    effect: {verb: read, sensitivity: internal, destination: internal, reversible: "yes"}
  - name: restart_service
    description: Rolling restart of a service
    effect: {verb: execute, sensitivity: none, destination: internal, reversible: "yes"}
  - name: scale_service
    description: Scale a service to a number of replicas
    effect: {verb: configure, sensitivity: none, destination: internal, reversible: "yes"}
deny:
  - id: prod-change-control
    tool: [restart_service, "scale_*"]
    when:
      environment: {equals: production}
    unless_task: "(?i)\\bINC-\\d+\\b|approved change window"
    message: Production changes need a declared incident or an approved change window
"""


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Gate:
    return gate_from_yaml(tmp_path_factory.mktemp("cc"), POL)


def _check(gate: Gate, task: str | None, tool: str, env: str, session: str | None = None):  # type: ignore[no-untyped-def]
    req = {"agent": "oncall", "action": {"tool": tool, "args": {"service": "checkout-api", "environment": env}}}
    if task is not None:
        req["task"] = task
    if session is not None:
        req["session"] = session
    return gate.check(req)


def _rule_hit(d) -> bool:  # type: ignore[no-untyped-def]
    return any(r["code"] == "deny_rule" for r in d.reasons)


@pytest.mark.parametrize("tool", ["restart_service", "scale_service"])
def test_production_change_without_incident_or_window_is_stopped(gate: Gate, tool: str) -> None:
    d = _check(gate, "Checkout feels slow this morning, speed it up", tool, "production")
    assert d.decision == "BLOCK" and _rule_hit(d)
    assert "prod-change-control" in d.reasons[0]["message"]


def test_production_change_with_no_task_at_all_is_stopped(gate: Gate) -> None:
    assert _rule_hit(_check(gate, None, "restart_service", "production"))


@pytest.mark.parametrize("task", ["INC-4412: checkout 5xx at 30%, restart it",
                                  "Approved change window tonight 22:00-23:00: restart checkout after the config change"])
def test_production_change_during_incident_or_window_passes_the_rule(gate: Gate, task: str) -> None:
    for tool in ("restart_service", "scale_service"):
        assert not _rule_hit(_check(gate, task, tool, "production"))


def test_the_rule_reads_the_task_the_session_was_imprinted_with(gate: Gate) -> None:
    _check(gate, "INC-7001: checkout down, restart it", "query_logs", "production", session="s-inc")
    # Later calls of the session do not repeat the task; the imprinted one counts.
    assert not _rule_hit(_check(gate, None, "restart_service", "production", session="s-inc"))
    _check(gate, "Tidy up the checkout dashboards", "query_logs", "production", session="s-tidy")
    assert _rule_hit(_check(gate, "INC-7001: restart", "restart_service", "production", session="s-tidy"))


def test_staging_and_other_tools_are_not_touched(gate: Gate) -> None:
    assert not _rule_hit(_check(gate, "Speed up checkout", "restart_service", "staging"))
    assert not _rule_hit(_check(gate, "Speed up checkout", "query_logs", "production"))
