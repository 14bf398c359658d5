"""The compiled hot path, and the guard that never lets a stale build run.

`pip install` compiles the modules in `COMPILED` to C extensions with Cython (see setup.py),
from their unchanged Python source, when a C compiler is present; the build is optional and
the `.py` sources stay the reference: they run wherever no compiled build exists, and the
tests compare both ways on the benchmark.

A compiled module is used only when the build manifest (`_compiled.json`, written by the
build next to the extensions) records the SHA-256 of exactly the source beside it. After an
edit of an editable install that source runs instead (with a warning) until the next
`pip install -e .`, so an edit is never silently shadowed by an older build.
`GATE_PURE_PYTHON=1` runs every module from source (and, at install time, skips the build).

Standard library only: setup.py reads `COMPILED` from this file before gate's dependencies
are installed.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

__all__ = ["COMPILED", "MANIFEST", "PURE_ENV", "install", "plan", "source_digest", "status"]

# The request path: parsing, features, checks, session risk, the encoder, metrics.
COMPILED = (
    "gate.gate",
    "gate.metrics",
    "gate.core.actions",
    "gate.core.cascade",
    "gate.core.checks",
    "gate.core.compiler",
    "gate.core.detectors",
    "gate.core.frame",
    "gate.core.integrity",
    "gate.core.risk",
    "gate.core.pending",
    "gate.core.session",
    "gate.core.stated",
    "gate.core.verdict",
    "gate.embeddings.encoders",
)
MANIFEST = "_compiled.json"
PURE_ENV = "GATE_PURE_PYTHON"

_PACKAGE = Path(__file__).resolve().parent
_STATUS: dict[str, str] = {}


def source_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def source_path(package_dir: Path, module: str) -> Path:
    """`gate.core.checks` -> <package_dir>/core/checks.py"""
    return package_dir.joinpath(*module.split(".")[1:]).with_suffix(".py")


def _has_extension(source: Path) -> bool:
    stem = source.with_suffix("")
    return any(Path(f"{stem}{s}").exists() for s in importlib.machinery.EXTENSION_SUFFIXES)


def plan(package_dir: Path, manifest: dict[str, Any], pure: bool) -> dict[str, str]:
    """How each module of `COMPILED` will run:
    `compiled`  an extension built from exactly this source;
    `source`    no extension was built (no compiler, or GATE_PURE_PYTHON at install);
    `pure`      an extension exists but GATE_PURE_PYTHON=1 asks for the source;
    `stale`     an extension exists but was built from another source (or its build is
                unrecorded): the source runs."""
    out = {}
    for module in COMPILED:
        src = source_path(package_dir, module)
        if not _has_extension(src):
            out[module] = "source"
        elif pure:
            out[module] = "pure"
        elif src.exists() and manifest.get(module) == source_digest(src):
            out[module] = "compiled"
        else:
            out[module] = "stale"
    return out


class _FromSource(importlib.abc.MetaPathFinder):
    """Loads the named modules from their `.py` files, ahead of the extension beside them."""

    def __init__(self, package_dir: Path, modules: set[str]) -> None:
        self.package_dir = package_dir
        self.modules = modules

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.modules:
            return None
        return importlib.util.spec_from_file_location(fullname, source_path(self.package_dir, fullname))


def install(package_dir: Path = _PACKAGE) -> dict[str, str]:
    """Decide, before any of them is imported, which modules run compiled; route the others
    to their source. Idempotent."""
    if _STATUS:
        return _STATUS
    try:
        manifest = json.loads((package_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        manifest = {}
    _STATUS.update(plan(package_dir, manifest if isinstance(manifest, dict) else {}, os.environ.get(PURE_ENV) == "1"))
    from_source = {m for m, s in _STATUS.items() if s in ("pure", "stale")}
    if from_source:
        sys.meta_path.insert(0, _FromSource(package_dir, from_source))
    stale = sorted(m for m, s in _STATUS.items() if s == "stale")
    if stale:
        warnings.warn(f"gate: the compiled build of {', '.join(stale)} does not match the source; running the source "
                      "(rebuild with `pip install -e .`)", RuntimeWarning, stacklevel=2)
    return _STATUS


def status() -> dict[str, str]:
    """How each hot-path module runs in this process (see `plan`)."""
    return dict(_STATUS)
