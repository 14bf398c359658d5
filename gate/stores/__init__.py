"""Session stores: where session snapshots live between calls (an edge; the core is pure)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gate.stores.base import (
    Added,
    SessionStore,
    Spend,
    budget_key,
    session_key,
    window_start,
)
from gate.stores.memory import MemoryStore

if TYPE_CHECKING:
    from gate.settings import Settings

__all__ = ["SessionStore", "MemoryStore", "Spend", "Added", "budget_key", "session_key", "window_start", "make_store"]


def make_store(settings: Settings) -> SessionStore:
    """The store chosen by configuration: `memory` (embedded) or `redis`."""
    if settings.store == "memory":
        return MemoryStore(ttl_s=settings.session_ttl_s, max_sessions=settings.session_max)
    if settings.store == "redis":
        from gate.stores.redis import RedisStore

        return RedisStore(settings.redis_url, ttl_s=settings.session_ttl_s, timeout_s=settings.redis_timeout_s)
    raise ValueError(f"unknown session store {settings.store!r} (memory | redis)")
