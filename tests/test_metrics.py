"""The hot-path decision metrics export as ordinary Prometheus counters and a histogram."""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, generate_latest

from gate.metrics import Metrics


def _sample(registry: CollectorRegistry, name: str, labels: dict[str, str] | None = None) -> float | None:
    return registry.get_sample_value(name, labels or {})


def test_counters_and_histogram_buckets_follow_prometheus_semantics() -> None:
    m = Metrics()
    m.stats.record(("a", "ALLOW", "api"), [], 50e-6)                      # exactly on the 50 µs bound
    m.stats.record(("a", "ALLOW", "api"), [], 120e-6)
    m.stats.record(("a", "BLOCK", "api"), [("dangerous_ops", "block"), ("semantic_scope", "flag")], 0.2)   # above every bound
    m.stats.record(("b", "BLOCK", "mcp"), [("mcp_tool_guard", "block")], None)                           # not timed
    r = m.registry
    assert _sample(r, "gate_decisions_total", {"agent": "a", "decision": "ALLOW", "via": "api"}) == 2
    assert _sample(r, "gate_decisions_total", {"agent": "b", "decision": "BLOCK", "via": "mcp"}) == 1
    assert _sample(r, "gate_check_verdicts_total", {"check": "semantic_scope", "outcome": "flag"}) == 1
    assert _sample(r, "gate_decision_seconds_bucket", {"le": "2.5e-05"}) == 0
    assert _sample(r, "gate_decision_seconds_bucket", {"le": "5e-05"}) == 1        # le: v <= bound
    assert _sample(r, "gate_decision_seconds_bucket", {"le": "0.0002"}) == 2
    assert _sample(r, "gate_decision_seconds_bucket", {"le": "0.05"}) == 2
    assert _sample(r, "gate_decision_seconds_bucket", {"le": "+Inf"}) == 3
    assert _sample(r, "gate_decision_seconds_count") == 3
    assert abs(_sample(r, "gate_decision_seconds_sum") - (50e-6 + 120e-6 + 0.2)) < 1e-12
    text = generate_latest(r).decode()
    assert 'gate_decisions_total{agent="a",decision="ALLOW",via="api"} 2.0' in text
    assert "# TYPE gate_decision_seconds histogram" in text


def test_concurrent_updates_lose_nothing() -> None:
    m = Metrics()

    def work() -> None:
        for _ in range(5000):
            m.stats.record(("a", "ALLOW", "api"), [("task_drift", "flag")], 1e-4)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _sample(m.registry, "gate_decisions_total", {"agent": "a", "decision": "ALLOW", "via": "api"}) == 20000
    assert _sample(m.registry, "gate_check_verdicts_total", {"check": "task_drift", "outcome": "flag"}) == 20000
    assert _sample(m.registry, "gate_decision_seconds_count") == 20000
