"""A text-keyed memo that keeps only short keys.

`lru_cache` on a function of caller-sent text (a task, a value) would let a caller fill memory
with long distinct texts: `text_cache` remembers calls whose first argument is at most `limit`
characters and computes the others afresh, uncached.
"""

from __future__ import annotations

from functools import lru_cache, update_wrapper
from typing import Any, Callable, TypeVar

__all__ = ["text_cache", "TASK_CACHE_LIMIT"]

# Tasks longer than this are read afresh on every call (the imprint cache uses the same bound).
TASK_CACHE_LIMIT = 4096

F = TypeVar("F", bound=Callable[..., Any])


def text_cache(maxsize: int, limit: int = TASK_CACHE_LIMIT) -> Callable[[F], F]:
    """`lru_cache(maxsize)` for calls whose first argument has at most `limit` characters.

    >>> @text_cache(16, limit=8)
    ... def words(text: str) -> int: return len(text.split())
    >>> words("a b"), words("a " * 100), words.cache_info().currsize
    (2, 100, 1)
    """
    def wrap(fn: F) -> F:
        cached = lru_cache(maxsize=maxsize)(fn)

        def call(text: str, *rest: Any) -> Any:
            return cached(text, *rest) if len(text) <= limit else fn(text, *rest)

        update_wrapper(call, fn)
        call.cache_info = cached.cache_info      # type: ignore[attr-defined]
        call.cache_clear = cached.cache_clear    # type: ignore[attr-defined]
        return call                              # type: ignore[return-value]
    return wrap
