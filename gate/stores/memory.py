"""The embedded session store: an LRU dict with a time-to-live, one lock per process."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Callable, Sequence, TypeVar

from gate.core.session import EMPTY_SESSION, SessionSnapshot
from gate.stores.base import Added, Spend

__all__ = ["MemoryStore"]

T = TypeVar("T")


class MemoryStore:
    """Sessions in process memory; oldest evicted past `max_sessions`, idle ones after `ttl_s`."""

    def __init__(self, ttl_s: float = 3600, max_sessions: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.max_sessions = max_sessions
        self._clock = clock
        self._data: OrderedDict[str, tuple[float, SessionSnapshot]] = OrderedDict()
        self._lock = threading.Lock()
        self.evicted = 0
        # agent-wide quota counters: key -> [calls, total, expires at]; their own lock, as a
        # check spends inside a session's transaction (which holds `_lock`)
        self._counters: dict[str, list[float]] = {}
        self._counter_lock = threading.Lock()

    def _load(self, key: str, now: float) -> SessionSnapshot | None:
        item = self._data.get(key)
        if item is None:
            return None
        if now - item[0] > self.ttl_s:
            del self._data[key]
            self.evicted += 1
            return None
        return item[1]

    def get(self, key: str) -> SessionSnapshot | None:
        with self._lock:
            return self._load(key, self._clock())

    def transact(self, key: str, fn: Callable[[SessionSnapshot], tuple[T, SessionSnapshot]]) -> T:
        with self._lock:
            now = self._clock()
            snap = self._load(key, now) or EMPTY_SESSION
            result, new = fn(snap)
            self._data[key] = (now, new)
            self._data.move_to_end(key)
            while len(self._data) > self.max_sessions:
                self._data.popitem(last=False)
                self.evicted += 1
            return result

    def _counter(self, key: str, now: float) -> tuple[int, float]:
        item = self._counters.get(key)
        if item is None or item[2] <= now:
            return 0, 0.0
        return int(item[0]), item[1]

    def counters(self, keys: Sequence[str]) -> list[tuple[int, float]]:
        with self._counter_lock:
            now = self._clock()
            return [self._counter(k, now) for k in keys]

    def spend(self, entries: Sequence[Spend], *, force: bool = False) -> Added | list[tuple[int, float]]:
        with self._counter_lock:
            now = self._clock()
            current = [self._counter(e.key, now) for e in entries]
            if not force:
                for e, (calls, total) in zip(entries, current):
                    if (e.max_calls is not None and calls + 1 > e.max_calls) or \
                            (e.max_total is not None and total + e.amount > e.max_total + 1e-9):
                        return current
            after = []
            for e, (calls, total) in zip(entries, current):
                self._counters[e.key] = [calls + 1, total + e.amount, now + e.ttl_ms / 1000]
                after.append((calls + 1, total + e.amount))
            if len(self._counters) > 4 * self.max_sessions:   # windows that ended are dropped now and then
                for k in [k for k, v in self._counters.items() if v[2] <= now]:
                    del self._counters[k]
            return Added(after)

    def refund(self, entries: Sequence[Spend]) -> None:
        with self._counter_lock:
            now = self._clock()
            for e in entries:
                item = self._counters.get(e.key)
                if item is not None and item[2] > now:
                    item[0] = max(0, item[0] - 1)
                    item[1] = max(0.0, item[1] - e.amount)

    def __len__(self) -> int:
        return len(self._data)

    def ping(self) -> None:
        return None

    def close(self) -> None:
        return None
