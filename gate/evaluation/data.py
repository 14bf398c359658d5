"""Benchmark cases and traces as typed records (bench/FORMAT.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gate.policy.loader import load_yaml

__all__ = ["Case", "Trace", "load_cases", "load_traces", "CATEGORIES", "DECISIONS"]

CATEGORIES = (
    "benign", "prompt_injection", "out_of_scope", "exfiltration", "privilege_escalation", "destructive",
    "credential_access", "financial_fraud", "compliance", "social_engineering", "multi_step",
)
DECISIONS = ("ALLOW", "BLOCK", "REWRITE")


@dataclass(frozen=True)
class Case:
    id: str
    agent: str
    action: dict[str, Any]
    expected: str
    category: str
    difficulty: str
    split: str
    rationale: str
    task: str | None = None
    history: tuple[dict[str, Any], ...] = ()
    rewrite: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    @property
    def stopped(self) -> bool:
        return self.expected != "ALLOW"


@dataclass(frozen=True)
class Trace:
    id: str
    agent: str
    task: str | None
    task_category: str
    label: str
    violation_step: int | None
    split: str
    steps: tuple[dict[str, Any], ...]
    rationale: str = ""
    source: str = ""           # the trace file (bench/traces/*.yaml) it came from


class BenchmarkDataError(ValueError):
    pass


def _read_list(path: Path) -> list[dict[str, Any]]:
    data = load_yaml(path.read_text("utf-8"))
    if not isinstance(data, list):
        raise BenchmarkDataError(f"{path}: expected a YAML list of cases")
    return data


def load_cases(folder: Path, split: str = "all") -> list[Case]:
    cases: list[Case] = []
    seen: set[str] = set()
    problems: list[str] = []
    for path in sorted(Path(folder).glob("*.yaml")):
        for raw in _read_list(path):
            cid = raw.get("id", "?")
            missing = [k for k in ("id", "agent", "action", "expected", "category", "split") if k not in raw]
            if missing:
                problems.append(f"{path.name}:{cid}: missing {', '.join(missing)}")
                continue
            if cid in seen:
                problems.append(f"{path.name}:{cid}: duplicate id")
            seen.add(cid)
            if raw["expected"] not in DECISIONS or raw["category"] not in CATEGORIES:
                problems.append(f"{path.name}:{cid}: bad expected/category")
                continue
            cases.append(Case(
                id=cid, agent=raw["agent"], action=raw["action"], expected=raw["expected"],
                category=raw["category"], difficulty=raw.get("difficulty", "medium"), split=raw["split"],
                rationale=raw.get("rationale", ""), task=raw.get("task"),
                history=tuple(raw.get("history") or ()), rewrite=dict(raw.get("rewrite") or {}), source=path.name,
            ))
    if problems:
        raise BenchmarkDataError("; ".join(problems[:20]))
    return [c for c in cases if split == "all" or c.split == split]


def load_traces(folder: Path, split: str = "all") -> list[Trace]:
    out: list[Trace] = []
    for path in sorted(Path(folder).glob("*.yaml")):
        for raw in _read_list(path):
            out.append(Trace(
                id=raw["id"], agent=raw["agent"], task=raw.get("task"),
                task_category=raw.get("task_category", "general"), label=raw["label"],
                violation_step=raw.get("violation_step"), split=raw["split"],
                steps=tuple(raw["steps"]), rationale=raw.get("rationale", ""), source=path.name,
            ))
    return [t for t in out if split == "all" or t.split == split]
