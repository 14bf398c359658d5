"""The compiled hot path (gate/_accel.py, setup.py): a compiled module runs only when it was
built from exactly the source beside it, and compiled and pure-Python runs decide alike."""

from __future__ import annotations

import hashlib
import importlib.machinery
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import gate
from gate import _accel

ROOT = Path(__file__).resolve().parent.parent
EXT = importlib.machinery.EXTENSION_SUFFIXES[0]


def _package(tmp_path: Path, extensions: set[str]) -> Path:
    """A fake package dir with every compiled module's source, and an extension file for some."""
    pkg = tmp_path / "gate"
    for m in _accel.COMPILED:
        src = _accel.source_path(pkg, m)
        src.parent.mkdir(parents=True, exist_ok=True)
        src.write_text(f"# {m}\n")
        if m in extensions:
            src.with_suffix(EXT).write_bytes(b"\x7fELF")
    return pkg


def _digest(pkg: Path, module: str) -> str:
    return hashlib.sha256(_accel.source_path(pkg, module).read_bytes()).hexdigest()


def test_plan_uses_an_extension_only_when_built_from_this_source(tmp_path: Path) -> None:
    a, b, c = _accel.COMPILED[:3]
    pkg = _package(tmp_path, {a, b, c})
    manifest = {a: _digest(pkg, a), b: "0" * 64}           # b built from another source, c unrecorded
    plan = _accel.plan(pkg, manifest, pure=False)
    assert plan[a] == "compiled"
    assert plan[b] == "stale"
    assert plan[c] == "stale"
    assert {plan[m] for m in _accel.COMPILED[3:]} == {"source"}
    # an edit after the build makes the extension stale
    _accel.source_path(pkg, a).write_text("# edited\n")
    assert _accel.plan(pkg, manifest, pure=False)[a] == "stale"


def test_plan_pure_runs_every_built_module_from_source(tmp_path: Path) -> None:
    pkg = _package(tmp_path, set(_accel.COMPILED))
    manifest = {m: _digest(pkg, m) for m in _accel.COMPILED}
    assert set(_accel.plan(pkg, manifest, pure=False).values()) == {"compiled"}
    assert set(_accel.plan(pkg, manifest, pure=True).values()) == {"pure"}


def test_every_module_of_this_process_runs_as_planned() -> None:
    """What the status says is what was imported: compiled modules from an extension, the
    others from their .py source."""
    __import__("gate.core.checks")
    status = _accel.status()
    assert set(status) == set(_accel.COMPILED)
    for module, how in status.items():
        __import__(module)
        path = sys.modules[module].__file__ or ""
        assert path.endswith(".py") == (how != "compiled"), (module, how, path)


def test_an_install_with_a_build_manifest_runs_compiled() -> None:
    """Where the install compiled the hot path, every module it built from the source now
    beside it runs compiled, and only those (a guard that misfires would silently lose the
    speed the README reports). In CI, from a fresh install, that must be every module."""
    package = Path(gate.__file__).parent
    manifest_path = package / _accel.MANIFEST
    if not manifest_path.exists() or os.environ.get(_accel.PURE_ENV) == "1":
        pytest.skip("no compiled build in this install")
    built = json.loads(manifest_path.read_text())
    assert built, "the build recorded no compiled module"
    status = _accel.status()
    for module, digest in built.items():
        fresh = digest == _accel.source_digest(_accel.source_path(package, module))
        assert status[module] == ("compiled" if fresh else "stale"), module
    if os.environ.get("CI"):
        assert set(built) == set(_accel.COMPILED)
        assert set(status.values()) == {"compiled"}


_DECIDE = """
import json, sys
from pathlib import Path
from gate import _accel
from gate.evaluation.data import load_cases
from gate.evaluation.runner import run_cases
from gate.gate import Gate
from gate.settings import Settings
root = Path(sys.argv[1])
g = Gate.from_policies(root / "bench" / "policies", Settings(audit_path=None))
cases = load_cases(root / "bench" / "cases")
rows = [[r.case.id, r.predicted, r.stopped_at, r.rewrite_ok, list(r.codes)] for r in run_cases(g, cases)]
full = []          # whole decisions (scores, messages, executed args) of the single calls
for c in cases:
    if not c.history:
        req = {"agent": c.agent, "action": c.action} | ({"task": c.task} if c.task else {})
        d = g.check(req).to_dict(trail=True)
        d.pop("decision_id")
        full.append(d)
print(json.dumps({"status": sorted(set(_accel.status().values())), "rows": rows, "full": full}))
"""


def _decide(pure: bool) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    env.pop(_accel.PURE_ENV, None)
    if pure:
        env[_accel.PURE_ENV] = "1"
    out = subprocess.run([sys.executable, "-c", _DECIDE, str(ROOT)], env=env, capture_output=True, text=True,
                         timeout=300, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_compiled_and_pure_python_decide_every_benchmark_case_alike() -> None:
    compiled, pure = _decide(False), _decide(True)
    if os.environ.get("CI"):                 # a fresh install: the comparison is with the build
        assert compiled["status"] == ["compiled"]
    assert pure["status"] in (["pure"], ["source"])
    assert len(pure["rows"]) >= 1000 and len(pure["full"]) >= 500
    assert compiled["rows"] == pure["rows"]
    assert compiled["full"] == pure["full"]
