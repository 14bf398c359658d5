"""Per-decision cost of sessions: `Gate.check` without a session, with the memory store, with Redis.

    python bench/session_overhead.py                       # starts a throwaway redis-server on loopback
    python bench/session_overhead.py --redis-url redis://127.0.0.1:6379/15 --calls 5000
    python bench/session_overhead.py --compare-cas         # also: Lua compare-and-set vs WATCH/MULTI/EXEC

Every mode decides its own distinct calls (different arguments, so no mode rides on another's
warm encoder cache), interleaved in a rotating order so drift in the machine hits all modes alike.
Session calls spread over `--sessions` sessions, without a task, so the figures are the session
machinery (store round trip, snapshot (de)serialisation, state update) and not task imprinting.

Two figures per mode: the end-to-end `Gate.check` percentiles and their difference from the
no-session mode (noisy on a busy machine), and the session overhead measured per decision inside
the store (time in `transact` outside the decision function). Targets, on the latter: memory
<= 20 us at p50, Redis <= 1 ms at p99. The last line is JSON (`--json` prints only it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gate import Gate  # noqa: E402
from gate.core.session import SessionSnapshot  # noqa: E402
from gate.embeddings.encoders import load_static  # noqa: E402
from gate.settings import Settings  # noqa: E402
from gate.stores import MemoryStore, session_key  # noqa: E402
from gate.stores.redis import RedisStore  # noqa: E402
from gate.testing import throwaway_redis  # noqa: E402

POLICIES = ROOT / "tests" / "fixtures" / "stores"
AGENT = "library-assistant"
TARGET_MEMORY_P50_US = 20.0
TARGET_REDIS_P99_US = 1000.0


# a throwaway redis-server ---------------------------------------------------------------------
@contextmanager
def redis_server() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not on PATH: install it or pass --redis-url")
    try:
        with throwaway_redis(binary) as server:
            yield server.url
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None


# measuring ------------------------------------------------------------------------------------
def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def request(mode: int, i: int, session: str | None) -> dict[str, Any]:
    # Distinct arguments per (mode, call): every call tokenises something new.
    req: dict[str, Any] = {"agent": AGENT, "action": {"tool": "lookup_book", "args": {"isbn": f"978-{mode}-{i:07d}"}}}
    if session is not None:
        req["session"] = session
    return req


class TimedStore:
    """Wraps a store and records, per decision, the time `transact` spends outside `fn`.

    That is the session overhead proper (round trips, (de)serialisation, locking, retries),
    measured inside real `Gate.check` calls, free of the noise in the decision itself.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.overhead_us: list[float] = []

    def transact(self, key: str, fn: Callable[[SessionSnapshot], tuple[Any, SessionSnapshot]]) -> Any:
        inside = 0.0

        def timed(snap: SessionSnapshot) -> tuple[Any, SessionSnapshot]:
            nonlocal inside
            t0 = time.perf_counter()
            out = fn(snap)
            inside += time.perf_counter() - t0
            return out

        t0 = time.perf_counter()
        result = self.inner.transact(key, timed)
        self.overhead_us.append((time.perf_counter() - t0 - inside) * 1e6)
        return result

    def get(self, key: str) -> SessionSnapshot | None:
        return self.inner.get(key)

    def ping(self) -> None:
        self.inner.ping()

    def close(self) -> None:
        self.inner.close()


def bench_gate(redis_url: str, calls: int, sessions: int, warmup: int) -> dict[str, dict[str, float]]:
    encoder = load_static(Settings().artifact_dir)
    base = Settings(audit_path=None)
    stores = {"memory": TimedStore(MemoryStore()), "redis": TimedStore(RedisStore(redis_url, ttl_s=600))}
    plain = Gate.from_policies(POLICIES, base, encoder=encoder)
    gates = {name: Gate.from_policies(POLICIES, base, encoder=encoder, store=st) for name, st in stores.items()}
    run = int(time.time())
    modes: list[tuple[str, Callable[[int], Any]]] = [
        ("no session", lambda i: plain.check(request(0, i, None))),
        ("memory", lambda i: gates["memory"].check(request(1, i, f"m-{run}-{i % sessions}"))),
        ("redis", lambda i: gates["redis"].check(request(2, i, f"r-{run}-{i % sessions}"))),
    ]
    times: dict[str, list[float]] = {name: [] for name, _ in modes}
    for i in range(-warmup, calls):
        if i == 0:
            for st in stores.values():
                st.overhead_us.clear()
        for k in range(len(modes)):
            name, call = modes[(i + k) % len(modes)]   # rotate the order
            t0 = time.perf_counter()
            d = call(i + warmup)
            dt = time.perf_counter() - t0
            if d.decision != "ALLOW":
                raise SystemExit(f"{name}: unexpected {d.decision} {d.reasons}")
            if i >= 0:
                times[name].append(dt * 1e6)
    for g in (plain, *gates.values()):
        g.close()
    none = times["no session"]
    out: dict[str, dict[str, float]] = {}
    for name, xs in times.items():
        r = {"check_p50_us": pct(xs, 50), "check_p99_us": pct(xs, 99),
             "check_delta_p50_us": pct(xs, 50) - pct(none, 50), "check_delta_p99_us": pct(xs, 99) - pct(none, 99)}
        if name in stores:
            r["overhead_p50_us"] = pct(stores[name].overhead_us, 50)
            r["overhead_p99_us"] = pct(stores[name].overhead_us, 99)
            r["overhead_max_us"] = max(stores[name].overhead_us)
        out[name] = r
    return out


def bump(snap: SessionSnapshot) -> tuple[None, SessionSnapshot]:
    return None, replace(snap, steps=snap.steps + 1)


def bench_store(store: Any, calls: int, prefix: str) -> dict[str, float]:
    """`transact` alone with a trivial update, one call at a time."""
    xs = []
    snap = SessionSnapshot(agent=AGENT, session="x", task="find a book", task_vec=np.ones(256, np.float32) / 16)
    for i in range(calls):
        key = session_key(AGENT, f"{prefix}-{i % 100}")
        t0 = time.perf_counter()
        store.transact(key, lambda s: (None, replace(snap, steps=s.steps + 1)))
        xs.append((time.perf_counter() - t0) * 1e6)
    return {"p50_us": pct(xs, 50), "p99_us": pct(xs, 99)}


def bench_contention(store_factory: Callable[[], Any], threads: int, per_thread: int, key: str) -> dict[str, float]:
    """Two stores (two replicas), `threads` threads in all, one hot session."""
    stores = [store_factory(), store_factory()]
    barrier = threading.Barrier(threads)

    def work(store: Any) -> None:
        barrier.wait(timeout=10)
        for _ in range(per_thread):
            store.transact(key, bump)

    ts = [threading.Thread(target=work, args=(stores[n % 2],)) for n in range(threads)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=120)
    elapsed = time.perf_counter() - t0
    final = stores[0].get(key)
    total = threads * per_thread
    conflicts = sum(s.conflicts for s in stores)
    for s in stores:
        s.close()
    if final is None or final.steps != total:
        raise SystemExit(f"lost updates: {final.steps if final else 0} != {total}")
    return {"ops_per_s": total / elapsed, "conflicts_per_op": conflicts / total}


class WatchStore(RedisStore):
    """The alternative measured against the Lua compare-and-set: WATCH / HMGET / MULTI ... EXEC."""

    def transact(self, key: str, fn: Callable[[SessionSnapshot], tuple[Any, SessionSnapshot]]) -> Any:
        import redis

        for _ in range(self.max_retries):
            with self._boundary("transact", key), self._client.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(key)
                    raw = pipe.hget(key, "d")
                    result, new = fn(SessionSnapshot.from_json(raw) if raw else SessionSnapshot())
                    pipe.multi()
                    pipe.hset(key, mapping={"v": "w", "d": new.to_json()})
                    pipe.pexpire(key, self.ttl_ms)
                    pipe.execute()
                    return result
                except redis.WatchError:
                    self.conflicts += 1
        raise RuntimeError("gave up")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=3000, help="measured calls per mode")
    ap.add_argument("--sessions", type=int, default=200, help="sessions the session calls spread over")
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--redis-url", help="use this Redis instead of starting redis-server (keys gate:s:* are written)")
    ap.add_argument("--compare-cas", action="store_true", help="also compare Lua CAS with WATCH/MULTI/EXEC")
    ap.add_argument("--json", action="store_true", help="print only the JSON line")
    args = ap.parse_args(argv)

    with nullcontext(args.redis_url) if args.redis_url else redis_server() as url:
        result: dict[str, Any] = {"calls": args.calls, "sessions": args.sessions, "python": sys.version.split()[0],
                                  "cpus": os.cpu_count()}
        result["gate_check"] = bench_gate(url, args.calls, args.sessions, args.warmup)
        run = int(time.time())
        result["transact"] = {
            "memory": bench_store(MemoryStore(), args.calls, f"bm-{run}"),
            "redis_lua_cas": bench_store(RedisStore(url, ttl_s=600), args.calls, f"bl-{run}"),
        }
        if args.compare_cas:
            result["transact"]["redis_watch_multi"] = bench_store(WatchStore(url, ttl_s=600), args.calls, f"bw-{run}")
            result["contention"] = {
                "redis_lua_cas": bench_contention(lambda: RedisStore(url, ttl_s=600), 8, 250, f"gate:s:bench:cl-{run}"),
                "redis_watch_multi": bench_contention(lambda: WatchStore(url, ttl_s=600), 8, 250, f"gate:s:bench:cw-{run}"),
            }

    g = result["gate_check"]
    result["targets"] = {
        "memory_overhead_p50_le_20us": g["memory"]["overhead_p50_us"] <= TARGET_MEMORY_P50_US,
        "redis_overhead_p99_le_1ms": g["redis"]["overhead_p99_us"] <= TARGET_REDIS_P99_US,
    }
    if not args.json:
        print(f"Gate.check, {args.calls} distinct calls per mode over {args.sessions} sessions (us)")
        print(f"{'mode':<11} {'check p50':>9} {'check p99':>9} {'d p50':>7} {'d p99':>7} | {'overhead p50':>12} {'p99':>7} {'max':>7}")
        for name, r in g.items():
            tail = f"{r['overhead_p50_us']:12.1f} {r['overhead_p99_us']:7.1f} {r['overhead_max_us']:7.0f}" if "overhead_p50_us" in r else f"{'-':>12} {'-':>7} {'-':>7}"
            print(f"{name:<11} {r['check_p50_us']:9.1f} {r['check_p99_us']:9.1f} {r['check_delta_p50_us']:7.1f} {r['check_delta_p99_us']:7.1f} | {tail}")
        print("d = difference from 'no session' (end to end, includes machine noise);"
              " overhead = time in the store outside the decision, per decision")
        print("\nstore.transact alone, trivial update (us)")
        print(f"{'store':<18} {'p50':>8} {'p99':>8}")
        for name, r in result["transact"].items():
            print(f"{name:<18} {r['p50_us']:8.1f} {r['p99_us']:8.1f}")
        if "contention" in result:
            print("\none hot session, 2 stores x 4 threads")
            for name, r in result["contention"].items():
                print(f"{name:<18} {r['ops_per_s']:8.0f} ops/s  {r['conflicts_per_op']:.2f} conflicts/op")
        print("\ntargets:", ", ".join(f"{k}={'ok' if v else 'MISSED'}" for k, v in result["targets"].items()))
    print(orjson.dumps(result, option=orjson.OPT_SERIALIZE_NUMPY).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
