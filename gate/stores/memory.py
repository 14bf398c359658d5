"""The embedded session store: an LRU dict with a time-to-live, one lock per process."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Callable, TypeVar

from gate.core.session import EMPTY_SESSION, SessionSnapshot

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

    def __len__(self) -> int:
        return len(self._data)

    def ping(self) -> None:
        return None

    def close(self) -> None:
        return None
