"""The shared session store: one Redis hash per session, written by compare-and-set.

Each session is a hash `{v: <version token>, d: <snapshot JSON>}`. `transact` reads both with
one `HMGET`, runs `fn` locally, then saves through a Lua compare-and-set that writes only if
the version is still the one it read (and refreshes the TTL in the same step). On a conflict
it reads again and re-runs `fn`, at most `max_retries` times. That is two round trips per
call; WATCH/MULTI/EXEC needs three and pins a connection for the whole transaction
(bench/session_overhead.py --compare-cas measures both).

Every redis-py error is mapped once, in `_boundary`, to `StoreUnavailable`; the Gate turns
that into a fail-closed BLOCK. The client never retries on its own and each socket operation
is bounded by `timeout_s`, so an outage costs one bounded failure per call; connections
broken by an outage are dropped and re-dialled, so the store recovers when Redis returns.
"""

from __future__ import annotations

import logging
import os
import random
import time
from contextlib import contextmanager
from typing import Callable, Iterator, Sequence, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from gate.core.session import SessionSnapshot, SnapshotError
from gate.errors import SessionUnreadable, StoreUnavailable
from gate.stores.base import Added, Spend

__all__ = ["RedisStore", "CAS_SCRIPT", "SPEND_SCRIPT"]

T = TypeVar("T")

log = logging.getLogger("gate.stores.redis")

# KEYS[1] session key; ARGV: expected version ('' = absent), new version, snapshot JSON, TTL ms.
CAS_SCRIPT = """
local cur = redis.call('HGET', KEYS[1], 'v')
if (cur or '') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'd', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""


# Agent-wide quota counters, one hash {c: calls, t: total} per quota and window.
# KEYS: the counters; ARGV[1] '1' = force; then per key: amount, max calls (-1 none), max total (-1 none), TTL ms.
# Adds to every key only if each stays within its limits. Returns {'1', calls, total, ...} with
# every key's counters after the add, or {'0', calls, total, ...} with their counters as they are.
SPEND_SCRIPT = """
local cur = {}
for i = 1, #KEYS do
  local v = redis.call('HMGET', KEYS[i], 'c', 't')
  cur[i] = {tonumber(v[1] or '0'), tonumber(v[2] or '0')}
end
if ARGV[1] ~= '1' then
  for i = 1, #KEYS do
    local b = 1 + (i - 1) * 4
    local maxc, maxt = tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
    if (maxc >= 0 and cur[i][1] + 1 > maxc) or (maxt >= 0 and cur[i][2] + tonumber(ARGV[b + 1]) > maxt + 1e-9) then
      local out = {'0'}
      for j = 1, #KEYS do
        out[#out + 1] = tostring(cur[j][1])
        out[#out + 1] = string.format('%.17g', cur[j][2])
      end
      return out
    end
  end
end
local out = {'1'}
for i = 1, #KEYS do
  local b = 1 + (i - 1) * 4
  out[#out + 1] = tostring(redis.call('HINCRBY', KEYS[i], 'c', 1))
  out[#out + 1] = redis.call('HINCRBYFLOAT', KEYS[i], 't', ARGV[b + 1])
  redis.call('PEXPIRE', KEYS[i], ARGV[b + 4])
end
return out
"""

# KEYS: counters; ARGV: the amount to take back from each (a spend whose decision did not stand).
REFUND_SCRIPT = """
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('HINCRBY', KEYS[i], 'c', -1)
    redis.call('HINCRBYFLOAT', KEYS[i], 't', '-' .. ARGV[i])
  end
end
return 1
"""


def _num(x: float) -> str:
    return repr(float(x))


class RedisStore:
    """Sessions in Redis, shared by every gate replica pointing at the same server.

        >>> store = RedisStore("redis://127.0.0.1:6379/0", ttl_s=3600)   # doctest: +SKIP
        >>> store.transact("gate:s:a:s1", lambda s: (None, s))            # doctest: +SKIP

    `ttl_s` is the idle lifetime of a session (refreshed on every write); `timeout_s` bounds
    connecting, each read and write, and waiting for a free pooled connection.
    """

    def __init__(
        self,
        url: str,
        ttl_s: float = 3600,
        timeout_s: float = 0.25,
        *,
        max_retries: int = 50,
        max_connections: int = 64,
    ) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        self.url = url
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.conflicts = 0  # CAS attempts lost to another writer (a statistic; not exact under threads)
        self._pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout_s,                  # wait for a free pooled connection
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),        # no hidden retries: one bounded failure, then fail closed
            health_check_interval=0,
        )
        self._client = redis.Redis(connection_pool=self._pool)
        self._cas = self._client.register_script(CAS_SCRIPT)  # EVALSHA; reloads itself after a restart
        self._spend = self._client.register_script(SPEND_SCRIPT)
        self._refund = self._client.register_script(REFUND_SCRIPT)
        self._foreign_logged: set[str] = set()   # unknown snapshot fields already logged

    # the one place redis-py errors become gate errors ---------------------------------------
    @contextmanager
    def _boundary(self, op: str, key: str = "") -> Iterator[None]:
        try:
            yield
        except (redis.RedisError, OSError) as exc:
            where = f" {key}" if key else ""
            raise StoreUnavailable(f"redis {op}{where} failed: {type(exc).__name__}: {exc}") from exc

    # SessionStore -------------------------------------------------------------------------
    def _read(self, key: str) -> tuple[bytes, SessionSnapshot]:
        with self._boundary("read", key):
            version, raw = self._client.hmget(key, "v", "d")
        if raw is None:
            return b"", SessionSnapshot()
        try:
            snap = SessionSnapshot.from_json(raw)
        except SnapshotError as exc:
            # A snapshot we cannot read must not silently become a fresh (risk-free) session.
            raise SessionUnreadable(f"session {key} holds an unreadable snapshot: {exc}") from None
        if snap.extra_fields is not None:
            self._note_foreign(snap.extra_fields)
        return version or b"", snap

    def _note_foreign(self, fields: dict[str, object]) -> None:
        """Log, once per field name, a snapshot field this version does not know (a newer
        replica shares the store): it is kept and written back, not interpreted."""
        new = [f for f in fields if f not in self._foreign_logged]
        if new and len(self._foreign_logged) < 256:
            self._foreign_logged.update(new)
            log.warning("session snapshots carry field(s) %s unknown to this version of gate (a newer replica?): "
                        "kept as they are, not interpreted", ", ".join(sorted(new)))

    def get(self, key: str) -> SessionSnapshot | None:
        version, snap = self._read(key)
        return snap if version else None

    def transact(self, key: str, fn: Callable[[SessionSnapshot], tuple[T, SessionSnapshot]]) -> T:
        for attempt in range(self.max_retries):
            version, snap = self._read(key)
            result, new = fn(snap)
            token = os.urandom(8).hex()  # random, so a session that expired and came back is never mistaken for this one
            with self._boundary("write", key):
                saved = self._cas(keys=[key], args=[version, token, new.to_json(), self.ttl_ms])
            if saved:
                return result
            self.conflicts += 1
            if attempt >= 2:  # persistent contention: spread the writers out a little
                time.sleep(random.uniform(0, 0.0005 * min(attempt, 10)))
        raise StoreUnavailable(
            f"session {key}: gave up after {self.max_retries} conflicting concurrent writes"
        )

    # agent-wide quota counters ----------------------------------------------------------
    def counters(self, keys: Sequence[str]) -> list[tuple[int, float]]:
        if not keys:
            return []
        with self._boundary("read counters"):
            pipe = self._client.pipeline(transaction=False)
            for k in keys:
                pipe.hmget(k, "c", "t")
            rows = pipe.execute()
        return [(int(c or 0), float(t or 0.0)) for c, t in rows]

    def spend(self, entries: Sequence[Spend], *, force: bool = False) -> Added | list[tuple[int, float]]:
        if not entries:
            return Added([])
        args: list[str | int] = ["1" if force else "0"]
        for e in entries:
            args += [_num(e.amount), -1 if e.max_calls is None else e.max_calls,
                     "-1" if e.max_total is None else _num(e.max_total), e.ttl_ms]
        with self._boundary("spend", entries[0].key):
            out = self._spend(keys=[e.key for e in entries], args=args)
        counters = [(int(out[i]), float(out[i + 1])) for i in range(1, len(out), 2)]
        return Added(counters) if out[0] == b"1" else counters

    def refund(self, entries: Sequence[Spend]) -> None:
        if entries:
            with self._boundary("refund", entries[0].key):
                self._refund(keys=[e.key for e in entries], args=[_num(e.amount) for e in entries])

    def ping(self) -> None:
        with self._boundary("ping"):
            self._client.ping()

    def close(self) -> None:
        with self._boundary("close"):
            self._pool.disconnect()

    def __repr__(self) -> str:
        return f"RedisStore({self._pool.connection_kwargs.get('host')}:{self._pool.connection_kwargs.get('port')})"
