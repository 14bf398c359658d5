"""Agent-wide quotas (`per: agent` with a `window`): one set of counters for every session and
sessionless call of an agent, so opening a new session (or leaving the session id out) does not
reset what the agent may spend. Counted over executed calls, spent atomically in the store
(the memory store and a real Redis shared by two gates), reset every window, fail closed."""

from __future__ import annotations

import threading
from pathlib import Path

import orjson
import pytest

from gate import Gate
from gate.errors import PolicyError, StoreUnavailable
from gate.policy.loader import load_policies, parse_window
from gate.replay import replay_file
from gate.settings import Settings
from gate.stores import MemoryStore
from replay import codes

REFUNDER = """
agent: refunder
identity: Customer billing assistant. Reads invoices and issues refunds for damaged orders.
tools:
  - name: read_invoice
  - name: issue_refund
  - name: send_email
quotas:
  - id: refunds-per-day
    per: agent
    window: 24h
    tool: issue_refund
    sum: amount
    max_total: 300
    max_calls: 4
    on_violation: clamp
    message: the agent refunds at most 300 USD a day; more goes to a person
  - id: refunds-per-session
    tool: issue_refund
    max_calls: 2
  - id: eur-mail-per-hour
    per: agent
    window: 1h
    tool: send_email
    when:
      to: {matches: "@partner\\\\.example$"}
    max_calls: 1
"""

DAY = 86_400.0
T0 = 1_700_000_000.0 - (1_700_000_000.0 % DAY) + 3_600.0     # 01:00 UTC on some day


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_gate(tmp_path: Path, clock: Clock | None = None, **settings) -> Gate:
    (tmp_path / "refunder.yaml").write_text(REFUNDER)
    return Gate.from_policies(tmp_path, Settings(audit_path=settings.pop("audit_path", None), **settings), clock=clock or Clock())


def refund(amount, session: str | None = None, order: str = "O-1") -> dict:
    req = {"agent": "refunder", "action": {"tool": "issue_refund", "args": {"order": order, "amount": amount}}}
    if session is not None:
        req["session"] = session
    return req


def spent(gate: Gate, quota: str = "refunds-per-day") -> tuple[int, float]:
    row = next(q for q in gate.agent_quotas("refunder") if q["id"] == quota)
    return row["calls"], row.get("total", 0.0)


def executed(n_threads: int, calls: int, check) -> list:  # type: ignore[no-untyped-def]
    """Run `check(thread, call)` from `n_threads` threads started together (`calls` each);
    the decisions that were not blocked."""
    out: list = []
    lock = threading.Lock()
    start = threading.Barrier(n_threads)

    def hammer(i: int) -> None:
        start.wait(timeout=10)
        for j in range(calls):
            d = check(i, j)
            if d.decision != "BLOCK":
                with lock:
                    out.append(d)

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return out


def test_a_new_session_does_not_reset_the_agents_quota(tmp_path: Path) -> None:
    g = make_gate(tmp_path)
    assert g.check(refund(100, "s1")).decision == "ALLOW"
    assert g.check(refund(150, "s2")).decision == "ALLOW"
    d = g.check(refund(100, "s3"))            # 250 spent: 50 left of 300, clamped
    assert d.decision == "REWRITE" and d.action["args"]["amount"] == 50
    assert "quota_clamped" in codes(d)
    assert "the agent's 24h quota" in next(r["message"] for r in d.reasons if r["code"] == "quota_clamped")
    d = g.check(refund(10, "s4"))
    assert d.decision == "BLOCK" and codes(d) == {"quota_total_exceeded"}
    assert "by this agent in the current 24h window" in d.reasons[0]["message"]
    assert spent(g) == (3, 300.0)


def test_sessionless_calls_count_against_the_agent(tmp_path: Path) -> None:
    g = make_gate(tmp_path)
    for i in range(4):
        assert g.check(refund(1, order=f"O-{i}")).decision == "ALLOW"
    d = g.check(refund(1, order="O-9"))
    assert d.decision == "BLOCK" and "quota_calls_exceeded" in codes(d)
    assert "4 of 4 call(s) already made by this agent" in d.reasons[0]["message"]


def test_session_quota_and_agent_quota_hold_together(tmp_path: Path) -> None:
    g = make_gate(tmp_path)
    assert g.check(refund(10, "s1")).decision == "ALLOW"
    assert g.check(refund(10, "s1")).decision == "ALLOW"
    d = g.check(refund(10, "s1"))             # the session's own quota: 2 calls
    assert d.decision == "BLOCK" and "quota_calls_exceeded" in codes(d)
    assert "this session" in d.reasons[0]["message"]
    assert g.check(refund(10, "s2")).decision == "ALLOW"   # another session: the agent has 1 call left
    assert spent(g) == (3, 30.0)


def test_blocked_calls_spend_nothing_and_rewrites_spend_what_runs(tmp_path: Path) -> None:
    g = make_gate(tmp_path)
    assert g.check(refund(280)).decision == "ALLOW"
    d = g.check(refund(100))
    assert d.decision == "REWRITE" and d.action["args"]["amount"] == 20
    assert spent(g) == (2, 300.0)             # the clamped 20, not the asked 100
    assert g.check(refund(5)).decision == "BLOCK"
    assert spent(g) == (2, 300.0)


def test_the_window_resets_the_counters(tmp_path: Path) -> None:
    clock = Clock()
    g = make_gate(tmp_path, clock)
    assert g.check(refund(300)).decision == "ALLOW"
    assert g.check(refund(1)).decision == "BLOCK"
    row = g.agent_quotas("refunder")[0]
    assert row["window"] == "24h" and row["window_end"] - row["window_start"] == DAY
    assert row["window_start"] <= clock.now < row["window_end"]
    clock.now = row["window_end"]            # midnight UTC: a new window
    assert g.check(refund(1)).decision == "ALLOW"
    assert spent(g) == (1, 1.0)


def test_when_conditions_pick_the_calls_that_count(tmp_path: Path) -> None:
    g = make_gate(tmp_path)

    def mail(to: str) -> dict:
        return {"agent": "refunder", "action": {"tool": "send_email", "args": {"to": to, "subject": "Refund", "body": "Done."}}}

    assert g.check(mail("ops@partner.example")).decision == "ALLOW"
    assert g.check(mail("jo@customer.example")).decision == "ALLOW"     # not a partner address: not counted
    d = g.check(mail("billing@partner.example"))
    assert d.decision == "BLOCK" and "quota_calls_exceeded" in codes(d)
    assert "1h window" in d.reasons[0]["message"]


def test_an_unmatched_observed_call_spends_and_a_matched_one_does_not(tmp_path: Path) -> None:
    g = make_gate(tmp_path)
    d = g.check(refund(100, "s1"))
    g.observe({"agent": "refunder", "session": "s1", "decision_id": d.decision_id, "action": d.action, "result": {"ok": True}})
    assert spent(g) == (1, 100.0)             # counted once, at the check
    # a refund the orchestrator ran without asking: it happened, so it spends
    out = g.observe({"agent": "refunder", "session": "s2", "action": {"tool": "issue_refund", "args": {"order": "O-7", "amount": 250}},
                     "result": {"ok": True}})
    assert out["counted"] == "new"
    assert spent(g) == (2, 350.0)
    assert g.check(refund(1, "s3")).decision == "BLOCK"


def test_dry_run_spends_what_would_run(tmp_path: Path) -> None:
    g = make_gate(tmp_path, mode="dry-run")
    assert g.check(refund(300)).decision == "ALLOW"
    d = g.check(refund(50))
    assert d.decision == "ALLOW" and d.dry_run["decision"] == "BLOCK"
    assert spent(g) == (2, 350.0)             # the call ran unchanged, so it counts


def test_agent_quotas_view_and_endpoint(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from gate.server import create_app

    g = make_gate(tmp_path)
    g.check(refund(40))
    rows = {q["id"]: q for q in g.agent_quotas("refunder")}
    assert set(rows) == {"refunds-per-day", "eur-mail-per-hour"}     # the session quota is not agent-wide
    day = rows["refunds-per-day"]
    assert (day["calls"], day["calls_left"], day["total"], day["max_total"], day["total_left"]) == (1, 3, 40.0, 300.0, 260.0)
    assert "total" not in rows["eur-mail-per-hour"] and rows["eur-mail-per-hour"]["calls_left"] == 1
    g.check(refund(10, "s1"))
    assert [q["id"] for q in g.session("refunder", "s1")["quotas"]] == ["refunds-per-session"]
    client = TestClient(create_app(g))
    body = client.get("/v1/agents/refunder/quotas").json()
    assert body["agent"] == "refunder" and {q["id"] for q in body["quotas"]} == set(rows)
    r = client.get("/v1/agents/nobody/quotas")
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_agent"


def test_replay_reproduces_quota_decisions(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    g = make_gate(tmp_path, audit_path=log)
    for amount in (200, 200, 5):
        g.check(refund(amount, "s1"))
    g.audit.close()
    recs = [orjson.loads(line) for line in log.read_bytes().splitlines()]
    assert [r["decision"] for r in recs] == ["ALLOW", "REWRITE", "BLOCK"]
    assert recs[2]["budget_before"]["refunds-per-day"] == [2, 300.0]
    out = replay_file(g, log)
    assert out["replayed"] == 3 and out["matched"] == 3, out


def test_lint_names_window_mistakes(tmp_path: Path) -> None:
    bad = REFUNDER.replace("    window: 24h\n", "").replace("    window: 1h\n", "    window: 90 minutes\n")
    bad += "  - id: session-window\n    tool: read_invoice\n    max_calls: 5\n    window: 1h\n"
    (tmp_path / "refunder.yaml").write_text(bad)
    with pytest.raises(PolicyError) as exc:
        load_policies(tmp_path)
    text = str(exc.value)
    assert "per: agent needs a `window`" in text
    assert "90 minutes" in text
    assert "`window` applies to per: agent quotas" in text
    assert parse_window("7d") == 7 * 86_400 and parse_window("15m") == 900
    for wrong in ("0h", "400d", "1w", ""):
        with pytest.raises(ValueError):
            parse_window(wrong)


def test_a_store_without_counters_fails_closed(tmp_path: Path) -> None:
    class SessionsOnly:
        def __init__(self) -> None:
            self.inner = MemoryStore()

        def transact(self, key, fn):
            return self.inner.transact(key, fn)

        def get(self, key):
            return self.inner.get(key)

        def ping(self) -> None:
            return None

        def close(self) -> None:
            return None

    (tmp_path / "refunder.yaml").write_text(REFUNDER)
    g = Gate.from_policies(tmp_path, Settings(audit_path=None), store=SessionsOnly())
    d = g.check(refund(1, "s1"))
    assert d.decision == "BLOCK" and codes(d) == {"store_unavailable"}
    assert "keeps no agent-wide quota counters" in d.reasons[0]["message"]
    assert g.check({"agent": "refunder", "action": {"tool": "read_invoice", "args": {"id": "I-1"}}}).decision == "ALLOW"


def test_threads_on_one_gate_never_overspend(tmp_path: Path) -> None:
    g = make_gate(tmp_path)
    allowed = [float(d.action["args"]["amount"]) for d in executed(4, 6, lambda i, j: g.check(refund(40, session=f"t{i}-{j}")))]
    assert len(allowed) == 4 and sum(allowed) <= 300.0   # max_calls 4 across every session
    assert spent(g) == (4, sum(allowed))


def test_replicas_on_one_redis_share_and_never_overspend(redis_server, tmp_path: Path) -> None:
    (tmp_path / "refunder.yaml").write_text(REFUNDER)
    gates = [Gate.from_policies(tmp_path, Settings(audit_path=None, store="redis", redis_url=redis_server.url,
                                                   redis_timeout_s=0.5), clock=Clock()) for _ in range(2)]
    amounts = [float(d.action["args"]["amount"])
               for d in executed(6, 5, lambda i, j: gates[i % 2].check(refund(70, session=f"r{i}-{j}")))]
    # 300 in 70s: four full refunds would pass 280 and the fifth call is the calls cap; whatever the
    # interleaving, no more than 4 calls and 300 in total ran, and both replicas see the same counters
    assert 1 <= len(amounts) <= 4 and sum(amounts) <= 300.0 + 1e-9
    assert spent(gates[0]) == spent(gates[1]) == (len(amounts), pytest.approx(sum(amounts)))


def test_redis_outage_fails_closed_and_recovers(redis_server, tmp_path: Path) -> None:
    (tmp_path / "refunder.yaml").write_text(REFUNDER)
    g = Gate.from_policies(tmp_path, Settings(audit_path=None, store="redis", redis_url=redis_server.url, redis_timeout_s=0.3),
                           clock=Clock())
    assert g.check(refund(100)).decision == "ALLOW"           # sessionless: only the agent's counters
    redis_server.stop()
    d = g.check(refund(1))
    assert d.decision == "BLOCK" and codes(d) == {"store_unavailable"}
    with pytest.raises(StoreUnavailable):
        g.agent_quotas("refunder")
    redis_server.start()
    assert g.check(refund(1)).decision == "ALLOW"
    # this throwaway server keeps nothing on disk: its restart forgot the counters (as it forgets
    # sessions); a deployment that must not forget runs Redis with persistence (appendonly)
    assert spent(g) == (1, 1.0)


def test_a_retried_session_transaction_takes_its_spend_back(redis_server, tmp_path: Path) -> None:
    """Calls of one session on two replicas race on the session's compare-and-set; the loser
    re-decides, and what its first attempt spent is taken back, so the agent's counters equal
    the calls that were allowed."""
    policy = REFUNDER.replace("    max_calls: 2\n", "    max_calls: 100\n").replace("max_total: 300", "max_total: 100000").replace(
        "max_calls: 4\n", "max_calls: 1000\n")
    (tmp_path / "refunder.yaml").write_text(policy)
    gates = [Gate.from_policies(tmp_path, Settings(audit_path=None, store="redis", redis_url=redis_server.url,
                                                   redis_timeout_s=0.5), clock=Clock()) for _ in range(2)]
    allowed = executed(4, 8, lambda i, j: gates[i % 2].check(refund(1, session="one-session", order=f"O-{i}-{j}")))
    assert len(allowed) == 32
    assert spent(gates[0]) == (32, 32.0)
    view = gates[0].session("refunder", "one-session")
    assert view["steps"] == 32


def test_a_rerun_transaction_does_not_spend_twice(tmp_path: Path) -> None:
    """A store that runs the transaction twice (the first attempt lost its compare-and-set):
    the first attempt's spend is taken back before the second decides."""
    class LosesFirstRace(MemoryStore):
        runs = 0

        def transact(self, key, fn):
            def twice(snap):
                LosesFirstRace.runs += 1
                fn(snap)                 # the attempt whose write would lose
                LosesFirstRace.runs += 1
                return fn(snap)
            return super().transact(key, twice)

    (tmp_path / "refunder.yaml").write_text(REFUNDER)
    g = Gate.from_policies(tmp_path, Settings(audit_path=None), store=LosesFirstRace(), clock=Clock())
    assert g.check(refund(200, "s1")).decision == "ALLOW"
    assert LosesFirstRace.runs == 2
    assert spent(g) == (1, 200.0)
    d = g.check(refund(200, "s2"))
    assert d.decision == "REWRITE" and d.action["args"]["amount"] == 100
    assert spent(g) == (2, 300.0)


# A gate decides a call on the counters its own last spend of each quota left, and the store's
# conditional add proves an ALLOW still fits; anything else is decided again on the store's counters.

class Counted:
    """Counts a store's agent-wide quota operations (wraps the instance's bound methods)."""

    def __init__(self, store) -> None:  # type: ignore[no-untyped-def]
        self.calls = {"counters": 0, "spend": 0}
        for name in self.calls:
            inner = getattr(store, name)

            def counted(*a, _name=name, _inner=inner, **kw):  # type: ignore[no-untyped-def]
                self.calls[_name] += 1
                return _inner(*a, **kw)

            setattr(store, name, counted)

    def take(self) -> dict[str, int]:
        out = dict(self.calls)
        for name in self.calls:
            self.calls[name] = 0
        return out


def redis_gates(tmp_path: Path, url: str, audit: tuple[Path | None, ...] = (None, None)) -> list[Gate]:
    """One gate per entry of `audit` (its audit log, or None) on the Redis at `url`."""
    (tmp_path / "refunder.yaml").write_text(REFUNDER)
    return [Gate.from_policies(tmp_path, Settings(audit_path=path, store="redis", redis_url=url, redis_timeout_s=0.5), clock=Clock())
            for path in audit]


def test_a_repeat_in_budget_call_is_one_spend_and_no_read(redis_server, tmp_path: Path) -> None:
    import redis

    g = redis_gates(tmp_path, redis_server.url, (None,))[0]
    ops = Counted(g.store)
    pool = g.store._pool
    trips = [0]
    checkout = pool.get_connection

    def counted_checkout(*a, **kw):  # type: ignore[no-untyped-def]
        trips[0] += 1         # one per command or pipeline the client sends: one round trip
        return checkout(*a, **kw)

    pool.get_connection = counted_checkout
    server = redis.Redis.from_url(redis_server.url)

    def scripts() -> int:
        calls = server.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
        server.config_resetstat()
        return calls

    assert g.check(refund(10, order="O-1")).decision == "ALLOW"          # nothing seen yet: read, then spend
    assert ops.take() == {"counters": 1, "spend": 1}                     # (and the script loaded: NOSCRIPT once)
    server.config_resetstat()
    for i in range(2):
        trips[0] = 0
        assert g.check(refund(10, order=f"O-{i + 2}")).decision == "ALLOW"
        assert ops.take() == {"counters": 0, "spend": 1}
        assert trips == [1] and scripts() == 1                           # one round trip: the conditional add
    assert g.check({"agent": "refunder", "action": {"tool": "send_email", "args": {"to": "jo@customer.example"}}}).decision == "ALLOW"
    assert ops.take() == {"counters": 1, "spend": 0}                     # its own quota, never seen: read
    d = g.check(refund(280, order="O-9"))                               # 30 spent: a clamp is read again first
    assert d.decision == "REWRITE" and d.action["args"]["amount"] == 270
    assert ops.take() == {"counters": 1, "spend": 1}
    assert spent(g) == (4, 300.0)


def test_a_spend_answers_the_counters_it_leaves(redis_server, tmp_path: Path) -> None:
    from gate.stores import Added, Spend
    from gate.stores.redis import RedisStore

    for store in (MemoryStore(), RedisStore(redis_server.url)):
        a, b = Spend("gate:q:{x}:a:60:0", 2.5, 3, 10.0, 60_000), Spend("gate:q:{x}:b:60:0", 2.5, None, None, 60_000)
        assert store.spend([a, b]) == Added([(1, 2.5), (1, 2.5)])
        assert store.spend([a, b]) == Added([(2, 5.0), (2, 5.0)])
        assert store.spend([a._replace(amount=6.0), b]) == [(2, 5.0), (2, 5.0)]      # would pass 10: nothing added
        assert store.spend([a._replace(amount=6.0), b], force=True) == Added([(3, 11.0), (3, 7.5)])
        assert store.counters([a.key, b.key]) == [(3, 11.0), (3, 7.5)]
        store.close()


def test_a_replica_that_saw_low_counters_never_overspends(redis_server, tmp_path: Path) -> None:
    log = tmp_path / "a.jsonl"
    a, b = redis_gates(tmp_path, redis_server.url, (log, None))
    assert a.check(refund(100)).decision == "ALLOW"                     # A saw (1, 100)
    assert b.check(refund(50)).decision == "ALLOW"                      # the store: (2, 150)
    d = a.check(refund(10))                                             # decided on (1, 100); the add proves it fits
    assert d.decision == "ALLOW" and spent(a) == (3, 160.0)
    assert b.check(refund(90)).decision == "ALLOW"                      # the store: (4, 250); A saw (3, 160)
    d = a.check(refund(100))                                            # fits what A saw; the store refuses: 4 calls
    assert d.decision == "BLOCK" and codes(d) == {"quota_calls_exceeded"}
    assert spent(a) == (4, 250.0)
    a.audit.close()
    recs = [orjson.loads(line) for line in log.read_bytes().splitlines()]
    assert [r["budget_before"]["refunds-per-day"] for r in recs] == [[0, 0.0], [1, 100.0], [4, 250.0]]
    out = replay_file(a, log)
    assert out["replayed"] == 3 and out["matched"] == 3, out


def test_a_clamp_on_low_counters_comes_out_exact(redis_server, tmp_path: Path) -> None:
    a, b = redis_gates(tmp_path, redis_server.url)
    assert a.check(refund(100)).decision == "ALLOW"                     # A saw (1, 100)
    assert b.check(refund(150)).decision == "ALLOW"                     # the store: (2, 250)
    d = a.check(refund(100))                                            # A would allow 100; 50 is left
    assert d.decision == "REWRITE" and d.action["args"]["amount"] == 50
    assert spent(a) == (3, 300.0)
    assert a.check(refund(1)).decision == "BLOCK" and b.check(refund(1)).decision == "BLOCK"
    assert spent(b) == (3, 300.0)


def test_counters_seen_high_never_clamp_or_block_what_the_store_allows(redis_server, tmp_path: Path) -> None:
    import redis

    from gate.stores import budget_key

    log = tmp_path / "a.jsonl"
    a, b = redis_gates(tmp_path, redis_server.url, (log, None))
    first = a.check(refund(280))
    assert first.decision == "ALLOW"                                    # A saw (1, 280)
    # the call did not stand (a session transaction elsewhere lost its race): B takes it back
    b.store.refund([_spend_of(b, 280.0)])
    assert spent(a) == (0, 0.0)                                         # A's view reads the store, not what A kept
    d = a.check(refund(100))                                            # on (1, 280) a clamp to 20; the store has room
    assert d.decision == "ALLOW" and d.action["args"]["amount"] == 100
    for i in range(3):
        assert a.check(refund(1, order=f"O-{i}")).decision == "ALLOW"
    assert a.check(refund(1)).decision == "BLOCK"                       # A saw 4 calls: the calls cap
    # an operator resets the agent's counters: A's 4 calls are gone from the store
    redis.Redis.from_url(redis_server.url).delete(budget_key("refunder", "refunds-per-day", 86_400, T0)[0])
    d = a.check(refund(5))
    assert d.decision == "ALLOW" and spent(a) == (1, 5.0)
    a.audit.close()
    out = replay_file(a, log)
    assert out["replayed"] == 7 and out["matched"] == 7, out


def _spend_of(g: Gate, amount: float):  # type: ignore[no-untyped-def]
    from gate.gate import _spends

    policy = g.bundle.agents["refunder"].policy
    return _spends("refunder", [(next(q for q in policy.quotas if q.id == "refunds-per-day"), amount)], T0)[0]


def test_a_store_that_answers_none_for_a_made_add_still_works(tmp_path: Path) -> None:
    """A store written before `spend` answered `Added`: the gate reads the counters every call."""
    class OldSpend(MemoryStore):
        def spend(self, entries, *, force=False):  # type: ignore[no-untyped-def]
            out = super().spend(entries, force=force)
            return out if isinstance(out, list) else None

    (tmp_path / "refunder.yaml").write_text(REFUNDER)
    g = Gate.from_policies(tmp_path, Settings(audit_path=None), store=OldSpend(), clock=Clock())
    ops = Counted(g.store)
    assert g.check(refund(200)).decision == "ALLOW"
    assert g.check(refund(50)).decision == "ALLOW"
    assert ops.take() == {"counters": 2, "spend": 2}
    d = g.check(refund(100))
    assert d.decision == "REWRITE" and d.action["args"]["amount"] == 50
    assert g.check(refund(1)).decision == "BLOCK"
    assert spent(g) == (3, 300.0)


def test_dry_run_reads_the_counters_for_every_call(tmp_path: Path) -> None:
    g = make_gate(tmp_path, mode="dry-run")
    ops = Counted(g.store)
    assert g.check(refund(100)).decision == "ALLOW"
    assert g.check(refund(100)).decision == "ALLOW"
    assert ops.take() == {"counters": 2, "spend": 2}                    # a forced add proves nothing
    g.store.refund([_spend_of(g, 200.0)])
    d = g.check(refund(250))
    assert d.decision == "ALLOW" and d.dry_run is None                  # the store's (2, 0): it would have run as asked
