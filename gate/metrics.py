"""Prometheus metrics. Names are constants; the registry is passed in (tests use their own)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Metrics", "DECISIONS", "DECISION_SECONDS", "CHECK_VERDICTS", "AUDIT_DROPPED", "RELOADS", "STORE_ERRORS", "POLICY_INFO"]

DECISIONS = "gate_decisions_total"
DECISION_SECONDS = "gate_decision_seconds"
CHECK_VERDICTS = "gate_check_verdicts_total"
AUDIT_DROPPED = "gate_audit_dropped_total"
RELOADS = "gate_policy_reloads_total"
STORE_ERRORS = "gate_store_errors_total"
POLICY_INFO = "gate_policy_agents"

_BUCKETS = (25e-6, 50e-6, 100e-6, 200e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 1e-2, 5e-2)


class Metrics:
    """The gate's metrics, registered on the registry given."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.decisions = Counter(DECISIONS, "Decisions by agent, decision and entry point", ["agent", "decision", "via"], registry=r)
        self.latency = Histogram(DECISION_SECONDS, "Time to decide one call (core only)", buckets=_BUCKETS, registry=r)
        self.verdicts = Counter(CHECK_VERDICTS, "Non-pass verdicts by check and outcome", ["check", "outcome"], registry=r)
        self.audit_dropped = Counter(AUDIT_DROPPED, "Audit records dropped because the queue was full", registry=r)
        self.reloads = Counter(RELOADS, "Policy reloads by result", ["result"], registry=r)
        self.store_errors = Counter(STORE_ERRORS, "Session store failures (the gate failed closed)", registry=r)
        self.agents = Gauge(POLICY_INFO, "Agents in the serving policy bundle", registry=r)
