"""Build of the compiled hot path (metadata lives in pyproject.toml).

The modules listed in `gate/_accel.py` are compiled to C extensions with Cython from their
unchanged source when a C compiler is present. Each extension is optional: a failed compile
leaves that module in pure Python. The build writes `gate/_compiled.json` with the SHA-256 of
every source it compiled; at import `gate._accel` uses an extension only when that digest
matches the source beside it. `GATE_PURE_PYTHON=1` skips the build.
"""

from __future__ import annotations

import json
import os
import runpy
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
ACCEL = runpy.run_path(str(ROOT / "gate" / "_accel.py"))


def _extensions() -> list[Extension]:
    if os.environ.get(ACCEL["PURE_ENV"]) == "1":
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:          # built without the build requirements: pure Python
        return []
    sources = {m: ACCEL["source_path"](Path("gate"), m) for m in ACCEL["COMPILED"]}
    # `-g0`: Python's own CFLAGS ask for debug info (`-g`), which on the two largest generated
    # files (checks, integrity: ~15 MB of C each) made gcc track variables, give up and redo the
    # work; measured on integrity.c, 421 s of CPU with `-O3 -g`, 248 s with `-O3 -g0`. Debug info
    # does not change the machine code, so the build runs exactly as fast.
    exts = cythonize(
        [Extension(m, [str(p)], extra_compile_args=["-g0"]) for m, p in sources.items()],
        compiler_directives={
            "language_level": 3,
            # Annotations stay documentation: the compiled module keeps Python semantics exactly
            # (no C-typed `int`/`float`, no exact-type checks on `dict`/`list` arguments).
            "annotation_typing": False,
            "binding": True,
        },
        force=True,
        quiet=True,
        nthreads=os.cpu_count() or 1,
    )
    for e in exts:
        e.optional = True
        e.gate_digest = ACCEL["source_digest"](ROOT / sources[e.name])   # type: ignore[attr-defined]
    return exts


class BuildExt(build_ext):
    """Builds every extension afresh and records the digests of what was built."""

    def build_extension(self, ext: Extension) -> None:
        Path(self.get_ext_fullpath(ext.name)).unlink(missing_ok=True)   # a failed optional build leaves none
        super().build_extension(ext)

    def run(self) -> None:
        super().run()
        # what was built this time: the build directory's files (an in-place copy may be older)
        inplace, self.inplace = self.inplace, False
        try:
            built = {e.name: e.gate_digest for e in self.extensions if Path(self.get_ext_fullpath(e.name)).exists()}
            bases = {Path(self.get_ext_fullpath("gate.x")).parent}
        finally:
            self.inplace = inplace
        if inplace:
            for e in self.extensions:
                if e.name not in built:
                    Path(self.get_ext_fullpath(e.name)).unlink(missing_ok=True)
            bases.add(Path(self.get_ext_fullpath("gate.x")).parent)
        for base in bases:
            base.mkdir(parents=True, exist_ok=True)
            (base / ACCEL["MANIFEST"]).write_text(json.dumps(built, indent=1, sort_keys=True) + "\n")


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExt}, options={"build_ext": {"parallel": os.cpu_count() or 1}})
