"""Settings, read once into an immutable object. Nothing else in gate reads the environment.

Every field has an embedded default, so `gate serve --policies DIR` needs nothing else.
Environment variables (`GATE_*`) override the defaults; tests build `Settings(...)` directly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

__all__ = ["Settings", "default_artifact_dir"]


def default_artifact_dir() -> Path:
    """`embeddings/static` beside the package (the README's set-up command builds it)."""
    return Path(__file__).resolve().parent.parent / "embeddings" / "static"


@dataclass(frozen=True)
class Settings:
    policies: Path = Path("policies")
    host: str = "127.0.0.1"
    port: int = 8700
    store: str = "memory"                      # memory | redis
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_timeout_s: float = 0.25
    session_ttl_s: int = 3600
    session_max: int = 100_000
    audit_path: Path | None = Path("gate-audit.jsonl")
    audit_queue: int = 10_000
    audit_key: str | None = field(default=None, repr=False)  # HMAC key of the audit log's chain; unset: plain SHA-256
    artifact_dir: Path = field(default_factory=default_artifact_dir)
    max_body_bytes: int = 1_000_000
    body_timeout_s: float = 10.0               # a request body not fully arrived by then gets a 408
    header_timeout_s: float = 10.0             # request headers not fully arrived by then: 408 and a close
    mode: str = "enforce"                      # enforce | dry-run (decide, log and count; let every call run)
    frame_encoder: str = "static"              # static | full (embeds the reference side with the full model at load)
    reload_interval_s: float = 0.0             # >0: poll the policies directory for changes
    semantic_cache: int = 8192                 # entries of the canonical-text embedding cache (0: off)
    reload_token: str | None = field(default=None, repr=False)  # POST /v1/reload needs it as a Bearer token; unset: loopback only
    tuning: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, allowed in (("mode", ("enforce", "dry-run")), ("store", ("memory", "redis")),
                              ("frame_encoder", ("static", "full"))):
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(f"setting {name}={value!r} is not one of {', '.join(allowed)}")
        for name in ("body_timeout_s", "header_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"setting {name}={getattr(self, name)!r} must be a positive number of seconds")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then `GATE_*` variables, then explicit overrides (e.g. CLI flags)."""
        env = os.environ if env is None else env
        kw: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"GATE_{f.name.upper()}")
            if raw is None or f.name == "tuning":
                continue
            kw[f.name] = _coerce(f.name, raw)
        s = cls(**kw)
        return replace(s, **overrides)


def _coerce(name: str, raw: str) -> Any:
    if name in ("port", "session_ttl_s", "session_max", "audit_queue", "max_body_bytes", "semantic_cache"):
        return int(raw)
    if name in ("redis_timeout_s", "reload_interval_s", "body_timeout_s", "header_timeout_s"):
        return float(raw)
    if name in ("policies", "artifact_dir"):
        return Path(raw)
    if name == "audit_path":
        return None if raw.lower() in ("", "none", "off") else Path(raw)
    if name in ("reload_token", "audit_key"):
        return raw or None
    return raw
