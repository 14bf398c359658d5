"""Agent identity from a presented API key: sha256 digests declared in the policies.

The key is hashed once and compared with *every* declared digest with `hmac.compare_digest`
(constant time, no early exit), so timing says nothing about which digest came close.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Iterable

from gate.core.compiler import Bundle
from gate.errors import Unauthorized

__all__ = ["CredentialIndex", "presented_key"]


def presented_key(headers: Iterable[tuple[bytes, bytes]]) -> tuple[str | None, bool]:
    """The gate key from ASGI headers, and whether it came in `Authorization` (so it is not forwarded).

    `X-Gate-Key` wins; otherwise `Authorization: Bearer <key>`.
    """
    bearer = None
    for name, value in headers:
        if name == b"x-gate-key":
            return value.decode("latin-1"), False
        if name == b"authorization":
            v = value.decode("latin-1")
            if v[:7].lower() == "bearer ":
                bearer = v[7:].strip()
    return bearer, bearer is not None


class CredentialIndex:
    """Digest -> agent, rebuilt when the gate swaps in a new policy bundle."""

    def __init__(self) -> None:
        self._bundle: Bundle | None = None
        self._creds: list[tuple[bytes, str]] = []

    def agent_for(self, bundle: Bundle, key: str | None, *, only: str | None = None) -> str:
        """The one agent declaring `key` (restricted to `only` when given); raises `Unauthorized`."""
        if bundle is not self._bundle:
            self._creds = [(bytes.fromhex(d), name) for name, a in sorted(bundle.agents.items())
                           for d in a.policy.credentials]
            self._bundle = bundle
        if not key:
            raise Unauthorized("send the agent's gate key as `Authorization: Bearer <key>` or `X-Gate-Key`")
        presented = hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
        found: set[str] = set()
        for digest, agent in self._creds:
            if hmac.compare_digest(presented, digest) and (only is None or agent == only):
                found.add(agent)
        if len(found) != 1:
            raise Unauthorized("missing or invalid gate credential" if not found
                               else "this credential is declared by more than one agent")
        return found.pop()
