"""Edges: settings from the environment, the audit queue's bounded drops, policy polling."""

from __future__ import annotations

import asyncio
import shutil
import threading
from pathlib import Path

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


def test_a_policy_that_names_an_unknown_store_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown session store"):
        Gate.from_policies(ROOT / "policies", Settings(audit_path=None, store="etcd"))
