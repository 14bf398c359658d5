"""Session stores: the memory store (TTL, size cap) and the Redis store against a real redis-server.

The Redis tests start a throwaway `redis-server` (tests/conftest.py `redis_server`), run two
stores or two gate replicas against it, stop it mid-test to prove the gate fails closed, and
start it again on the same port to prove the gate recovers without being rebuilt.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from gate import Gate
from gate.core.session import SessionSnapshot
from gate.errors import StoreUnavailable
from gate.settings import Settings
from gate.stores import MemoryStore, make_store, session_key
from gate.stores.redis import RedisStore

POLICIES = Path(__file__).parent / "fixtures" / "stores"
AGENT = "library-assistant"


def bump(snap: SessionSnapshot) -> tuple[int, SessionSnapshot]:
    new = replace(snap, steps=snap.steps + 1)
    return new.steps, new


def check_request(session: str | None, i: int = 0) -> dict:
    req = {"agent": AGENT, "action": {"tool": "lookup_book", "args": {"isbn": f"978-0-{i:06d}"}}}
    if session is not None:
        req["session"] = session
    return req


def redis_gate(url: str) -> Gate:
    return Gate.from_policies(POLICIES, Settings(audit_path=None, store="redis", redis_url=url, redis_timeout_s=0.25))


# memory store ---------------------------------------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_memory_round_trip_and_ttl() -> None:
    clock = FakeClock()
    store = MemoryStore(ttl_s=10, clock=clock)
    assert store.get("k") is None
    assert store.transact("k", bump) == 1
    assert store.transact("k", bump) == 2
    clock.now += 9.9
    assert store.get("k").steps == 2          # idle 9.9 s of 10: still there
    store.transact("k", bump)                  # a write refreshes the idle time
    clock.now += 9.9
    assert store.get("k").steps == 3
    clock.now += 0.2                           # idle 10.1 s: expired
    assert store.get("k") is None
    assert store.evicted == 1
    assert store.transact("k", bump) == 1     # starts afresh


def test_memory_size_cap_evicts_least_recently_written() -> None:
    clock = FakeClock()
    store = MemoryStore(ttl_s=3600, max_sessions=3, clock=clock)
    for key in ("a", "b", "c"):
        store.transact(key, bump)
    store.transact("a", bump)                  # "a" is now the most recent; "b" the oldest
    store.transact("d", bump)
    assert len(store) == 3
    assert store.get("b") is None
    assert store.get("a").steps == 2 and store.get("c") is not None and store.get("d") is not None
    assert store.evicted == 1


def test_make_store_picks_the_configured_store() -> None:
    assert isinstance(make_store(Settings(audit_path=None)), MemoryStore)
    store = make_store(Settings(audit_path=None, store="redis", redis_url="redis://127.0.0.1:1/0"))
    assert isinstance(store, RedisStore)       # building the store never dials Redis
    store.close()
    with pytest.raises(ValueError, match="store='etcd' is not one of memory, redis"):
        make_store(Settings(audit_path=None, store="etcd"))   # refused when the settings are built


# Redis store ----------------------------------------------------------------------------------
@pytest.mark.redis
def test_redis_round_trip(redis_server) -> None:
    store = RedisStore(redis_server.url, ttl_s=60)
    key = session_key(AGENT, "s-1")
    assert store.get(key) is None
    snap = SessionSnapshot(agent=AGENT, session="s-1", task="find a book", steps=4, exposure=2,
                           tainted=frozenset({"evil.example"}), named=frozenset({"acme.com"}), drift=0.25)

    def put(s: SessionSnapshot) -> tuple[str, SessionSnapshot]:
        assert s == SessionSnapshot()          # an absent session reads as a fresh one
        return "done", snap

    assert store.transact(key, put) == "done"
    assert store.get(key) == snap
    assert store.transact(key, bump) == 5
    assert store.get(key) == replace(snap, steps=5)
    store.ping()
    store.close()


@pytest.mark.redis
def test_redis_ttl_expiry_and_refresh(redis_server) -> None:
    store = RedisStore(redis_server.url, ttl_s=0.3)
    key = session_key(AGENT, "s-ttl")
    store.transact(key, bump)
    time.sleep(0.2)
    store.transact(key, bump)                  # a write refreshes the TTL
    time.sleep(0.2)
    assert store.get(key).steps == 2           # 0.4 s after the first write, 0.2 s after the last
    deadline = time.monotonic() + 3.0
    while store.get(key) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.get(key) is None
    assert store.transact(key, bump) == 1
    store.close()


@pytest.mark.redis
def test_redis_conflict_reruns_fn(redis_server) -> None:
    """A write landing between the read and the save makes the store re-read and re-run `fn`."""
    mine, other = RedisStore(redis_server.url, ttl_s=60), RedisStore(redis_server.url, ttl_s=60)
    key = session_key(AGENT, "s-conflict")
    seen: list[int] = []

    def fn(snap: SessionSnapshot) -> tuple[int, SessionSnapshot]:
        seen.append(snap.steps)
        if len(seen) == 1:
            other.transact(key, bump)          # the other replica wins the race
        return bump(snap)

    assert mine.transact(key, fn) == 2
    assert seen == [0, 1]
    assert mine.conflicts == 1
    assert mine.get(key).steps == 2


@pytest.mark.redis
def test_redis_gives_up_after_bounded_retries(redis_server) -> None:
    mine = RedisStore(redis_server.url, ttl_s=60, max_retries=4)
    other = RedisStore(redis_server.url, ttl_s=60)
    key = session_key(AGENT, "s-hot")
    calls = 0

    def always_loses(snap: SessionSnapshot) -> tuple[None, SessionSnapshot]:
        nonlocal calls
        calls += 1
        other.transact(key, bump)
        return None, replace(snap, blocks=snap.blocks + 1)

    with pytest.raises(StoreUnavailable, match="gave up after 4 conflicting"):
        mine.transact(key, always_loses)
    assert calls == 4
    assert mine.get(key).steps == 4 and mine.get(key).blocks == 0


@pytest.mark.redis
def test_redis_unreadable_snapshot_fails_closed(redis_server) -> None:
    import redis

    key = session_key(AGENT, "s-corrupt")
    redis.Redis.from_url(redis_server.url).hset(key, mapping={"v": "x", "d": "{not json"})
    store = RedisStore(redis_server.url, ttl_s=60)
    with pytest.raises(StoreUnavailable, match="unreadable snapshot"):
        store.transact(key, bump)


@pytest.mark.redis
def test_redis_stores_lose_no_update_under_threads(redis_server) -> None:
    """Two stores (two replicas) x 4 threads each, all incrementing one session."""
    stores = [RedisStore(redis_server.url, ttl_s=60), RedisStore(redis_server.url, ttl_s=60)]
    key = session_key(AGENT, "s-race")
    per_thread, threads_per_store = 150, 4
    errors: list[BaseException] = []
    start = threading.Barrier(len(stores) * threads_per_store)

    def hammer(store: RedisStore) -> None:
        try:
            start.wait(timeout=10)
            for _ in range(per_thread):
                store.transact(key, bump)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(s,)) for s in stores for _ in range(threads_per_store)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert stores[0].get(key).steps == per_thread * len(threads)
    assert sum(s.conflicts for s in stores) > 0, "the threads never raced; the test proved nothing"


@pytest.mark.redis
def test_two_gate_replicas_lose_no_update(redis_server) -> None:
    gates = [redis_gate(redis_server.url), redis_gate(redis_server.url)]
    per_thread, threads_per_gate = 40, 3
    decisions: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(len(gates) * threads_per_gate)

    def hammer(gate: Gate, t: int) -> None:
        try:
            start.wait(timeout=10)
            for i in range(per_thread):
                d = gate.check(check_request("s-replicas", t * 1000 + i))
                with lock:
                    decisions.append(d.decision)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(g, n * threads_per_gate + k))
               for n, g in enumerate(gates) for k in range(threads_per_gate)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    total = per_thread * len(threads)
    assert len(decisions) == total and set(decisions) == {"ALLOW"}
    snap = gates[0].store.get(session_key(AGENT, "s-replicas"))
    assert snap.steps + snap.blocks == total
    assert snap.steps == total
    for g in gates:
        g.close()


@pytest.mark.redis
def test_gate_fails_closed_while_redis_is_down_and_recovers(redis_server) -> None:
    gate = redis_gate(redis_server.url)
    observe = {"agent": AGENT, "session": "s-outage",
               "action": {"tool": "lookup_book", "args": {"isbn": "978-0-1"}}, "result": {"title": "Dune"}}
    assert gate.check(check_request("s-outage", 1)).decision == "ALLOW"
    assert gate.ready()[0]

    redis_server.stop()
    for i in range(3):  # every call during the outage, not only the first
        t0 = time.monotonic()
        d = gate.check(check_request("s-outage", 2 + i))
        assert time.monotonic() - t0 < 2.0     # bounded by the timeout, no hidden retries
        assert d.decision == "BLOCK"
        assert [r["code"] for r in d.reasons] == ["store_unavailable"]
        assert d.action == {"tool": "lookup_book", "args": {"isbn": f"978-0-{2 + i:06d}"}}
    with pytest.raises(StoreUnavailable, match="redis"):
        gate.observe(observe)
    ok, why = gate.ready()
    assert not ok and "session store unavailable" in why
    assert gate.check(check_request(None, 9)).decision == "ALLOW"   # no session: no store involved

    redis_server.start()                        # same port, empty: the session starts afresh
    d = gate.check(check_request("s-outage", 10))  # the very first call after the restart
    assert d.decision == "ALLOW", d.reasons
    assert gate.observe(observe)["steps"] == 2
    assert gate.ready() == (True, "ok")
    gate.close()


def test_redis_store_is_bounded_when_nothing_listens() -> None:
    with socket.socket() as s:                 # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = RedisStore(f"redis://127.0.0.1:{port}/0", ttl_s=60, timeout_s=0.2)
    t0 = time.monotonic()
    with pytest.raises(StoreUnavailable, match="redis read .* failed: ConnectionError"):
        store.transact(session_key(AGENT, "s"), bump)
    with pytest.raises(StoreUnavailable, match="redis ping failed"):
        store.ping()
    assert time.monotonic() - t0 < 2.0
    store.close()


@pytest.mark.redis
def test_redis_pool_does_not_leak_connections_through_an_outage(redis_server) -> None:
    store = RedisStore(redis_server.url, ttl_s=60, timeout_s=0.2, max_connections=2)
    key = session_key(AGENT, "s-pool")
    store.transact(key, bump)
    redis_server.stop()
    for _ in range(10):  # five times the pool size: a leaked connection would exhaust it
        with pytest.raises(StoreUnavailable):
            store.transact(key, bump)
    redis_server.start()
    assert store.transact(key, bump) == 1     # a fresh server: the session starts afresh
    assert store.get(key).steps == 1
    store.close()


@pytest.mark.redis
def test_redis_error_in_fn_propagates_and_writes_nothing(redis_server) -> None:
    store = RedisStore(redis_server.url, ttl_s=60)
    key = session_key(AGENT, "s-raise")

    def boom(snap: SessionSnapshot) -> tuple[None, SessionSnapshot]:
        raise KeyError("not a store problem")

    with pytest.raises(KeyError):
        store.transact(key, boom)
    assert store.get(key) is None
    store.close()


def test_the_gate_keeps_the_store_it_is_given_even_when_empty(tmp_path: Path) -> None:
    """An empty MemoryStore is falsy (it has a length): the gate must still use it, not a default."""
    (tmp_path / "a.yaml").write_text("agent: a\nidentity: Reads invoices for the billing team.\n")
    store = MemoryStore(ttl_s=5)
    g = Gate.from_policies(tmp_path, Settings(audit_path=None), store=store)
    assert g.store is store
    g.check({"agent": "a", "session": "s1", "action": {"tool": "read_invoice", "args": {"id": "I-1"}}})
    assert len(store) == 1
