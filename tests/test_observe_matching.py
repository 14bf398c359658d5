"""/v1/observe counts a reported call once: a call the gate allowed (named by its decision_id,
or without one by the same tool and arguments) was counted when it was checked; anything else
(a made-up, reused or blocked decision_id, or a call other than the one allowed) is counted as a
new step, quotas included. In memory, through a real Redis, and over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from gate import Gate
from gate.core.pending import PENDING_CAP, call_digest
from gate.core.session import SessionSnapshot
from gate.server import create_app
from gate.settings import Settings
from gate.stores import session_key
from replay import codes, gate_from_yaml
from test_quotas import DESK   # the quota-bearing billing desk: the same policy the quota tests run


def call(tool: str = "issue_refund", session: str = "s1", **args: Any) -> dict[str, Any]:
    return {"agent": "desk", "session": session, "action": {"tool": tool, "args": args}}


def refund(amount: Any, invoice: str = "INV-1", session: str = "s1") -> dict[str, Any]:
    return call("issue_refund", session, invoice_id=invoice, amount=amount)


def report(gate: Gate, request: dict[str, Any], decision_id: Any = None, **changes: Any) -> dict[str, Any]:
    """Observe the call of `request` (its args updated with `changes`), with `decision_id` if given."""
    action = {"tool": request["action"]["tool"], "args": {**request["action"]["args"], **changes}}
    body: dict[str, Any] = {"agent": request["agent"], "session": request["session"], "action": action,
                            "result": {"status": "ok"}}
    if decision_id is not None:
        body["decision_id"] = decision_id
    return gate.observe(body)


def usage(gate: Gate, session: str = "s1") -> dict[str, tuple[int, float]]:
    snap = gate.store.get(session_key("desk", session))
    return {i: (n, t) for i, n, t in snap.usage}


@pytest.fixture
def desk(tmp_path: Path) -> Gate:
    return gate_from_yaml(tmp_path, DESK)


# -- counted once ------------------------------------------------------------------------------
def test_max_calls_3_allows_3_calls_reported_without_their_decision_id(desk: Gate) -> None:
    for i in range(3):
        d = desk.check(refund(10, invoice=f"INV-{i}"))
        assert d.decision == "ALLOW", codes(d)
        out = report(desk, refund(10, invoice=f"INV-{i}"))
        assert out["counted"] == "matched" and out["mismatch"] is None
        assert out["steps"] == i + 1
    assert usage(desk)["refunds-per-session"] == (3, 0.0)
    d = desk.check(refund(10, invoice="INV-9"))
    assert d.decision == "BLOCK" and codes(d) == {"quota_calls_exceeded"}


def test_key_order_and_integral_floats_do_not_make_another_call(desk: Gate) -> None:
    assert desk.check(refund(40)).decision == "ALLOW"
    out = desk.observe({"agent": "desk", "session": "s1", "result": {"ok": True},
                        "action": {"tool": "issue_refund", "args": {"amount": 40.0, "invoice_id": "INV-1"}}})
    assert out["counted"] == "matched"
    assert usage(desk)["refund-total"] == (1, 40.0)


def test_without_an_id_the_oldest_identical_call_is_matched_and_each_id_matches_once(desk: Gate) -> None:
    d1, d2 = desk.check(refund(10)), desk.check(refund(10))
    assert d1.decision == d2.decision == "ALLOW"
    assert report(desk, refund(10))["counted"] == "matched"                      # takes d1
    consumed = report(desk, refund(10), d1.decision_id)                           # d1 already reported
    assert consumed["counted"] == "new" and consumed["mismatch"] == "unknown_decision"
    assert report(desk, refund(10), d2.decision_id)["counted"] == "matched"
    again = report(desk, refund(10), d2.decision_id)                              # reported twice
    assert again["counted"] == "new" and again["mismatch"] == "unknown_decision"
    assert usage(desk)["refunds-per-session"] == (4, 0.0)                       # 2 checked + 2 reported anew


# -- ids that do not match count the call --------------------------------------------------------
def test_a_made_up_decision_id_counts_the_call(desk: Gate) -> None:
    out = report(desk, refund(70), "0" * 32)
    assert out["counted"] == "new" and out["mismatch"] == "unknown_decision" and out["steps"] == 1
    assert usage(desk) == {"refunds-per-session": (1, 0.0), "refund-total": (1, 70.0)}
    d = desk.check(refund(90, invoice="INV-2"))
    assert d.decision == "REWRITE" and d.action["args"]["amount"] == 80        # 150 - 70 left


def test_an_id_of_another_session_is_unknown(desk: Gate) -> None:
    d = desk.check(refund(10, session="other"))
    assert d.decision == "ALLOW"
    out = report(desk, refund(10), d.decision_id)
    assert out["counted"] == "new" and out["mismatch"] == "unknown_decision"
    assert report(desk, refund(10, session="other"), d.decision_id)["counted"] == "matched"


def test_a_non_string_decision_id_never_matches(desk: Gate) -> None:
    assert desk.check(refund(10)).decision == "ALLOW"
    out = report(desk, refund(10), 12345)
    assert out["counted"] == "new" and out["mismatch"] == "unknown_decision"


def test_the_decision_id_of_a_blocked_call_counts_the_call(desk: Gate) -> None:
    for i in range(3):
        d = desk.check(refund(10, invoice=f"INV-{i}"))
        assert report(desk, refund(10, invoice=f"INV-{i}"), d.decision_id)["counted"] == "matched"
    blocked = desk.check(refund(10, invoice="INV-9"))
    assert blocked.decision == "BLOCK"
    assert desk.store.get(session_key("desk", "s1")).pending == ()             # never pending
    out = report(desk, refund(10, invoice="INV-9"), blocked.decision_id)        # executed anyway
    assert out["counted"] == "new" and out["mismatch"] == "unknown_decision"
    assert usage(desk)["refunds-per-session"] == (4, 0.0)


def test_a_larger_amount_than_allowed_counts_and_the_quota_sees_it(desk: Gate) -> None:
    d = desk.check(refund(40))
    assert d.decision == "ALLOW"
    out = report(desk, refund(40), d.decision_id, amount=120)
    assert out["counted"] == "new" and out["mismatch"] == "args_differ"
    assert usage(desk)["refund-total"] == (2, 160.0)                             # 40 checked + 120 executed
    d = desk.check(refund(1, invoice="INV-2"))
    assert d.decision == "BLOCK" and codes(d) == {"quota_total_exceeded"}


def test_another_tool_under_the_id_counts_and_says_so(desk: Gate) -> None:
    d = desk.check(refund(20))
    out = desk.observe({"agent": "desk", "session": "s1", "decision_id": d.decision_id, "result": {},
                        "action": {"tool": "credit_account", "args": {"invoice_id": "INV-1", "amount": 20}}})
    assert out["counted"] == "new" and out["mismatch"] == "tool_differs"
    assert usage(desk)["refund-total"] == (2, 40.0)
    # the allowed call itself is still pending: reported later, it was already counted
    assert report(desk, refund(20), d.decision_id)["counted"] == "matched"


def test_mismatches_are_counted_in_the_metrics(desk: Gate) -> None:
    report(desk, refund(5), "made-up")
    d = desk.check(refund(5, invoice="INV-2"))
    report(desk, refund(5, invoice="INV-2"), d.decision_id, amount=6)
    value = desk.metrics.registry.get_sample_value
    assert value("gate_observe_mismatches_total", {"reason": "unknown_decision"}) == 1.0
    assert value("gate_observe_mismatches_total", {"reason": "args_differ"}) == 1.0


# -- rewrites and dry-run ------------------------------------------------------------------------
def test_a_rewritten_call_observed_as_rewritten_matches(desk: Gate) -> None:
    d = desk.check(refund(400))
    assert d.decision == "REWRITE" and d.action["args"]["amount"] == 100
    out = desk.observe({"agent": "desk", "session": "s1", "action": d.action, "result": {}, "decision_id": d.decision_id})
    assert out["counted"] == "matched"
    assert usage(desk)["refund-total"] == (1, 100.0)
    d = desk.check(refund(90, invoice="INV-2"))
    assert d.decision == "REWRITE" and d.action["args"]["amount"] == 50       # what the quota leaves
    assert report(desk, refund(90, invoice="INV-2"), amount=50.0)["counted"] == "matched"   # without its id
    assert usage(desk)["refund-total"] == (2, 150.0)


def test_a_rewritten_call_observed_as_proposed_counts(desk: Gate) -> None:
    d = desk.check(refund(400))
    assert d.decision == "REWRITE"
    out = report(desk, refund(400), d.decision_id)                             # the caller ignored the rewrite
    assert out["counted"] == "new" and out["mismatch"] == "args_differ"
    assert usage(desk)["refund-total"] == (2, 500.0)


def test_dry_run_pends_the_proposed_call_it_lets_run(tmp_path: Path) -> None:
    (tmp_path / "desk.yaml").write_text(DESK)
    g = Gate.from_policies(tmp_path, Settings(audit_path=None, mode="dry-run"))
    for i in range(5):
        d = g.check(refund(400, invoice=f"INV-{i}"))
        assert d.decision == "ALLOW" and d.dry_run is not None                  # would be REWRITE, then BLOCK
        decision_id = d.decision_id if i % 2 else None                          # with and without the id
        assert report(g, refund(400, invoice=f"INV-{i}"), decision_id)["counted"] == "matched"
    assert usage(g)["refunds-per-session"] == (5, 0.0)
    assert usage(g)["refund-total"] == (5, 2000.0)


# -- the bounded list and the snapshot --------------------------------------------------------------
def test_the_pending_list_keeps_the_most_recent_allowed_calls(desk: Gate) -> None:
    ids = []
    for i in range(PENDING_CAP + 4):
        d = desk.check(call("read_invoice", invoice_id=f"INV-{i}"))
        assert d.decision == "ALLOW", codes(d)
        ids.append(d.decision_id)
    snap = desk.store.get(session_key("desk", "s1"))
    assert [p[0] for p in snap.pending] == ids[-PENDING_CAP:]
    assert desk.session("desk", "s1")["pending_observations"] == PENDING_CAP
    pushed_out = report(desk, call("read_invoice", invoice_id="INV-0"), ids[0])
    assert pushed_out["counted"] == "new" and pushed_out["mismatch"] == "unknown_decision"
    assert report(desk, call("read_invoice", invoice_id=f"INV-{PENDING_CAP + 3}"), ids[-1])["counted"] == "matched"
    assert len(desk.store.get(session_key("desk", "s1")).pending) == PENDING_CAP - 1


def test_pending_survives_the_snapshot_json_and_older_snapshots_load(desk: Gate) -> None:
    d = desk.check(refund(30))
    snap = desk.store.get(session_key("desk", "s1"))
    again = SessionSnapshot.from_json(snap.to_json())
    assert again.pending == snap.pending == ((d.decision_id, "issue_refund", call_digest("issue_refund", {"invoice_id": "INV-1", "amount": 30})),)
    old = b'{"agent": "desk", "session": "s1", "steps": 2, "usage": [["refunds-per-session", 1, 0.0]]}'
    loaded = SessionSnapshot.from_json(old)
    assert loaded.pending == () and loaded.usage == (("refunds-per-session", 1, 0.0),)
    # a session stored before this change: an id it cannot know counts the call
    desk.store.transact(session_key("desk", "s2"), lambda s: (None, loaded))
    out = report(desk, refund(10, session="s2"), "a" * 32)
    assert out["counted"] == "new" and out["steps"] == 3
    assert usage(desk, "s2")["refunds-per-session"] == (2, 0.0)


def test_the_digest_is_canonical_and_takes_what_orjson_cannot_write() -> None:
    assert call_digest("t", {"a": 1, "b": [1, 2.5]}) == call_digest("t", {"b": [1.0, 2.5], "a": 1.0})
    assert call_digest("t", {"a": 1}) != call_digest("u", {"a": 1})
    assert call_digest("t", {"a": [1, 2]}) != call_digest("t", {"a": [2, 1]})
    assert call_digest("t", {"a": "1"}) != call_digest("t", {"a": 1})
    assert call_digest("t", {"a": True}) != call_digest("t", {"a": 1})
    assert call_digest("t", {"n": 2 ** 70}) == call_digest("t", {"n": float(2 ** 70)}) != call_digest("t", {"n": 2 ** 70 + 1})
    assert call_digest("t", {"s": "\ud800"}) != call_digest("t", {"s": "\\ud800"})


# -- shared Redis ----------------------------------------------------------------------------------
@pytest.mark.redis
def test_replicas_sharing_redis_match_a_call_checked_on_one_and_observed_on_the_other(redis_server, tmp_path: Path) -> None:
    (tmp_path / "desk.yaml").write_text(DESK)
    a, b = (Gate.from_policies(tmp_path, Settings(audit_path=None, store="redis", redis_url=redis_server.url,
                                                  redis_timeout_s=0.5)) for _ in range(2))
    try:
        for i in range(3):
            d = a.check(refund(10, invoice=f"INV-{i}", session="shared"))
            assert d.decision == "ALLOW", codes(d)
            assert report(b, refund(10, invoice=f"INV-{i}", session="shared"))["counted"] == "matched"
        assert usage(b, "shared")["refunds-per-session"] == (3, 0.0)
        assert b.store.get(session_key("desk", "shared")).pending == ()
        made_up = report(a, refund(10, invoice="INV-7", session="shared"), "f" * 32)
        assert made_up["counted"] == "new" and made_up["mismatch"] == "unknown_decision"
        assert usage(a, "shared")["refunds-per-session"] == (4, 0.0)
        assert b.check(refund(10, invoice="INV-8", session="shared")).decision == "BLOCK"
    finally:
        a.close()
        b.close()


# -- HTTP ------------------------------------------------------------------------------------------
async def test_the_observe_endpoint_says_how_the_call_was_counted(desk: Gate) -> None:
    transport = httpx.ASGITransport(app=create_app(desk))
    async with httpx.AsyncClient(transport=transport, base_url="http://gate") as c:
        d = (await c.post("/v1/check", json=refund(40))).json()
        assert d["decision"] == "ALLOW"
        ok = await c.post("/v1/observe", json={**refund(40), "result": {"ok": True}, "decision_id": d["decision_id"]})
        made_up = await c.post("/v1/observe", json={**refund(40), "result": {"ok": True}, "decision_id": d["decision_id"]})
        unchecked = await c.post("/v1/observe", json={**refund(5, invoice="INV-5"), "result": {"ok": True}})
        spec = (await c.get("/openapi.json")).json()
        metrics = (await c.get("/metrics")).text
    assert ok.status_code == made_up.status_code == unchecked.status_code == 200
    assert (ok.json()["counted"], ok.json()["mismatch"]) == ("matched", None)
    assert (made_up.json()["counted"], made_up.json()["mismatch"]) == ("new", "unknown_decision")
    assert (unchecked.json()["counted"], unchecked.json()["mismatch"]) == ("new", None)
    assert made_up.json()["steps"] == 2 and unchecked.json()["steps"] == 3
    observed = spec["paths"]["/v1/observe"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert {"counted", "mismatch"} <= set(observed["required"])
    assert 'gate_observe_mismatches_total{reason="unknown_decision"} 1.0' in metrics
