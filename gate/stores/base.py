from __future__ import annotations

from typing import Callable, NamedTuple, Protocol, Sequence, TypeVar

from gate.core.session import SessionSnapshot

__all__ = ["SessionStore", "Spend", "Added", "session_key", "budget_key", "window_start"]

T = TypeVar("T")


def session_key(agent: str, session: str) -> str:
    return f"gate:s:{agent}:{session}"


def window_start(now: float, window_s: int) -> int:
    """Start (epoch seconds) of the window of `window_s` seconds that holds `now`."""
    return int(now // window_s) * window_s


def budget_key(agent: str, quota: str, window_s: int, now: float) -> tuple[str, int]:
    """(key, time to live in ms) of an agent-wide quota's counters for the window holding
    `now` (epoch seconds; windows are aligned to the epoch, so a 24h window is a UTC day).
    The agent is a hash tag: one agent's counters share a Redis Cluster slot."""
    start = window_start(now, window_s)
    ttl_ms = max(1, int((start + window_s - now) * 1000)) + 60_000   # a minute past the window's end
    return f"gate:q:{{{agent}}}:{quota}:{window_s}:{start}", ttl_ms


class Spend(NamedTuple):
    """One agent-wide quota an executed call spends: one call and `amount`, within limits."""

    key: str
    amount: float
    max_calls: int | None
    max_total: float | None
    ttl_ms: int


class Added(NamedTuple):
    """What a successful `spend` returns: every entry's counters (calls, total) right after the
    add, as the store holds them (a gate keeps them to decide its next call of the agent)."""

    after: list[tuple[int, float]]


class SessionStore(Protocol):
    """Atomic read-modify-write of one session's snapshot.

    `transact(key, fn)` calls `fn(snapshot)` which returns `(result, new_snapshot)`;
    the store saves `new_snapshot` only if no other writer changed the session in between
    (retrying `fn` on conflict), so two calls of one session lose no update.
    """

    def transact(self, key: str, fn: Callable[[SessionSnapshot], tuple[T, SessionSnapshot]]) -> T: ...

    def get(self, key: str) -> SessionSnapshot | None: ...

    # Agent-wide quota counters (`per: agent`): plain counters, outside any session.
    def counters(self, keys: Sequence[str]) -> list[tuple[int, float]]:
        """(calls, total) of each key (0, 0.0 when absent or expired)."""
        ...

    def spend(self, entries: Sequence[Spend], *, force: bool = False) -> Added | list[tuple[int, float]] | None:
        """Atomically add one call and its amount to every entry's counters if each stays
        within its limits (or `force`: the call ran anyway). When added: `Added` with every
        entry's counters after the add (or None, as stores written before `Added` answer: the
        gate then reads the counters again for the agent's next call); else the current
        counters of every entry, as a plain list (nothing added)."""
        ...

    def refund(self, entries: Sequence[Spend]) -> None:
        """Take back a spend (a decision whose session update did not happen)."""
        ...

    def ping(self) -> None: ...

    def close(self) -> None: ...
