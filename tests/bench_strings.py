"""Every string argument of every benchmark case and trace step (history included), read once:
the corpus the pattern oracle tests run old and new forms over."""

from __future__ import annotations

import functools
from pathlib import Path

import yaml

from gate.core.actions import flatten_args

BENCH = Path(__file__).resolve().parent.parent / "bench"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.lru_cache(maxsize=1)
def bench_strings() -> tuple[str, ...]:
    out: list[str] = []
    for path in sorted((BENCH / "cases").glob("*.yaml")) + sorted((BENCH / "traces").glob("*.yaml")):
        for item in yaml.load(path.read_text(), Loader=_LOADER) or []:
            steps = item.get("steps") or [{"action": item.get("action") or {}}] + list(item.get("history") or [])
            for step in steps:
                action = step.get("action") or {}
                out += [v for _, v in flatten_args(action.get("args") or {}) if isinstance(v, str)]
    return tuple(out)
