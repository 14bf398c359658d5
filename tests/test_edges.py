"""Edges: settings from the environment, the audit queue's bounded drops, policy polling."""

from __future__ import annotations

import asyncio
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from gate import Gate
from gate.audit import FileAuditSink, mask_args
from gate.metrics import Metrics
from gate.server import _watch
from gate.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_settings_come_from_gate_variables_then_overrides() -> None:
    s = Settings.from_env({"GATE_PORT": "9001", "GATE_STORE": "redis", "GATE_AUDIT_PATH": "off",
                           "GATE_SESSION_TTL_S": "60", "UNRELATED": "x"}, host="0.0.0.0")
    assert (s.port, s.store, s.audit_path, s.session_ttl_s, s.host) == (9001, "redis", None, 60, "0.0.0.0")
    assert Settings.from_env({}).store == "memory"   # embedded default


def test_a_full_audit_queue_drops_and_counts_instead_of_blocking(tmp_path: Path) -> None:
    metrics = Metrics()
    release = threading.Event()
    sink = FileAuditSink(tmp_path / "a.jsonl", maxsize=2, on_drop=metrics.audit_dropped.inc)
    original = sink._flush

    def slow_flush(batch: list) -> None:
        release.wait(5)
        original(batch)

    sink._flush = slow_flush  # type: ignore[method-assign]
    for i in range(20):
        sink.write({"n": i})     # never blocks the caller
    assert sink.dropped >= 15
    assert metrics.registry.get_sample_value("gate_audit_dropped_total") == sink.dropped
    release.set()
    sink.close()
    assert len((tmp_path / "a.jsonl").read_text().splitlines()) == 20 - sink.dropped


def test_masking_hides_secrets_and_personal_data_but_keeps_the_shape() -> None:
    masked, changed = mask_args({"to": ["a@b.example"], "body": "key AKIAIOSFODNN7EXAMPLE, ssn 123-45-6789", "n": 3})
    assert changed and masked["n"] == 3 and masked["to"] == ["a@b.example"]
    assert "AKIAIOSFODNN7EXAMPLE" not in masked["body"] and "123-45-6789" not in masked["body"]


async def test_policy_polling_reloads_on_change(tmp_path: Path) -> None:
    d = tmp_path / "p"
    shutil.copytree(ROOT / "policies", d, ignore=shutil.ignore_patterns("*.json"))
    gate = Gate.from_policies(d, Settings(audit_path=None))
    before = gate.revision
    task = asyncio.create_task(_watch(gate, 0.05))
    await asyncio.sleep(0.2)   # let the watcher take its first reading
    try:
        (d / "extra.yaml").write_text("agent: extra\nidentity: Answers questions about the cafeteria menu.\n")
        for _ in range(100):
            await asyncio.sleep(0.05)
            if "extra" in gate.bundle.agents:
                break
        assert "extra" in gate.bundle.agents and gate.revision != before
    finally:
        task.cancel()


def test_an_unknown_store_is_refused() -> None:
    with pytest.raises(ValueError, match="store"):
        Gate.from_policies(ROOT / "policies", Settings(audit_path=None, store="etcd"))


def test_dry_run_lets_the_call_run_and_says_what_would_have_been_enforced(tmp_path: Path) -> None:
    gate = Gate.from_policies(ROOT / "policies", Settings(audit_path=None, mode="dry-run"))
    d = gate.check({"agent": "billing-assistant", "session": "dry-1",
                    "action": {"tool": "delete_customer", "args": {"id": "CUS-1"}}})
    assert d.decision == "ALLOW" and d.action == {"tool": "delete_customer", "args": {"id": "CUS-1"}}
    assert d.dry_run is not None and d.dry_run["decision"] == "BLOCK"
    assert d.reasons[0]["code"] == "dry_run" and d.to_dict()["dry_run"]["reasons"][0]["code"] == "tool_not_declared"
    refund = gate.check({"agent": "billing-assistant", "session": "dry-1",
                         "action": {"tool": "issue_refund", "args": {"invoice_id": "INV-1", "amount": 400}}})
    assert refund.decision == "ALLOW" and refund.action["args"]["amount"] == 400   # not clamped: nothing is enforced
    assert refund.dry_run["decision"] == "REWRITE" and refund.dry_run["action"]["args"]["amount"] == 100
    assert gate.store.get("gate:s:billing-assistant:dry-1").steps == 2      # the session advanced as executed
    read = gate.check({"agent": "billing-assistant", "session": "dry-1",
                       "action": {"tool": "read_invoice", "args": {"invoice_id": "INV-1"}}})
    assert read.decision == "ALLOW" and read.dry_run is None
    assert gate.store.get("gate:s:billing-assistant:dry-1").steps == 3      # allowed calls advance too
    metrics = gate.metrics.registry
    assert metrics.get_sample_value("gate_decisions_total", {"agent": "billing-assistant", "decision": "BLOCK", "via": "python"}) == 1


def test_settings_refuse_unknown_values() -> None:
    with pytest.raises(ValueError, match="mode"):
        Settings(mode="shadow")


async def test_a_fault_while_compiling_keeps_the_last_bundle_and_the_watcher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gate.gate as gate_module

    d = tmp_path / "p"
    shutil.copytree(ROOT / "policies", d, ignore=shutil.ignore_patterns("*.json"))
    gate = Gate.from_policies(d, Settings(audit_path=None))
    before = gate.revision
    real = gate_module.compile_bundle
    faults = {"left": 1}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if faults["left"]:
            faults["left"] -= 1
            raise RuntimeError("compiler fault")
        return real(*args, **kwargs)

    monkeypatch.setattr(gate_module, "compile_bundle", flaky)
    task = asyncio.create_task(_watch(gate, 0.05))
    await asyncio.sleep(0.2)
    try:
        (d / "extra.yaml").write_text("agent: extra\nidentity: Answers questions about the cafeteria menu.\n")
        for _ in range(100):
            await asyncio.sleep(0.05)
            if gate.last_reload_error:
                break
        # the fault is reported, the last good bundle keeps deciding, and the watcher lives on
        assert gate.last_reload_error is not None and "RuntimeError: compiler fault" in gate.last_reload_error
        assert gate.revision == before and not task.done()
        assert gate.check({"agent": "billing-assistant", "action": {"tool": "get_invoice", "args": {"invoice_id": "INV-1"}}})
        (d / "extra.yaml").write_text("agent: extra\nidentity: Answers questions about the cafeteria menu and hours.\n")
        for _ in range(100):
            await asyncio.sleep(0.05)
            if "extra" in gate.bundle.agents:
                break
        assert "extra" in gate.bundle.agents and gate.last_reload_error is None
    finally:
        task.cancel()
