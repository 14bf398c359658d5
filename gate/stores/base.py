from __future__ import annotations

from typing import Callable, Protocol, TypeVar

from gate.core.session import SessionSnapshot

__all__ = ["SessionStore", "session_key"]

T = TypeVar("T")


def session_key(agent: str, session: str) -> str:
    return f"gate:s:{agent}:{session}"


class SessionStore(Protocol):
    """Atomic read-modify-write of one session's snapshot.

    `transact(key, fn)` calls `fn(snapshot)` which returns `(result, new_snapshot)`;
    the store saves `new_snapshot` only if no other writer changed the session in between
    (retrying `fn` on conflict), so two calls of one session lose no update.
    """

    def transact(self, key: str, fn: Callable[[SessionSnapshot], tuple[T, SessionSnapshot]]) -> T: ...

    def get(self, key: str) -> SessionSnapshot | None: ...

    def ping(self) -> None: ...

    def close(self) -> None: ...
