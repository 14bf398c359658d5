"""Instructions per in-process decision, counted by valgrind (callgrind): a cost figure that
does not drift with the VM's timing noise (±10% over minutes here), for comparing builds.

    python bench/instructions.py                # 300 distinct calls after 200 warm-up calls
    python bench/instructions.py --calls 500 --json

Two runs under `valgrind --tool=callgrind`, collecting only inside `Gate.check` of the
compiled build: one with the warm-up calls alone, one with the warm-up and the measured calls;
the difference divided by the measured calls is the figure (so the warm-up, imports and policy
compilation never count). The calls are those of `bench/latency.py` (benchmark cases with every
string made unique), each with its case's task, new to the gate the first time it is seen.
Needs valgrind (`apt-get install valgrind`) and the compiled hot path; takes a few minutes.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WARMUP = 200
# the C entry point of the compiled `Gate.check` (Cython's name for the method wrapper)
TOGGLE = "__pyx_pw_4gate_4gate_4Gate_*check"


def _drive(calls: int) -> None:
    """Run inside valgrind: warm up, then decide `calls` distinct calls."""
    sys.path.insert(0, str(ROOT / "bench"))
    import latency as lat

    from gate.gate import Gate
    from gate.settings import Settings

    gate = Gate.from_policies(ROOT / "bench" / "policies", Settings(audit_path=None))
    warm = lat.distinct_requests(WARMUP, False)
    for r in warm:
        r["action"]["args"] = lat._uniq(r["action"]["args"], "warm")
        gate.check(r)
    reqs = lat.distinct_requests(calls, False)[:calls]
    for r in reqs:
        r["action"]["args"] = lat._uniq(r["action"]["args"], "instr")
    gc.collect()
    gc.freeze()
    for r in reqs:
        gate.check(r)


def _collected(calls: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", "--collect-atstart=no", f"--toggle-collect={TOGGLE}",
             f"--callgrind-out-file={tmp}/cg.out", sys.executable, __file__, "--drive", str(calls)],
            capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=3600, check=False)
    m = re.search(r"Collected\s*:\s*(\d+)", out.stderr)
    if out.returncode != 0 or m is None:
        raise SystemExit(f"valgrind run failed (exit {out.returncode}):\n{out.stderr[-2000:]}")
    return int(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--drive", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.drive is not None:
        _drive(args.drive)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    from gate import _accel

    compiled = sum(v == "compiled" for v in _accel.status().values())
    if compiled == 0:
        raise SystemExit("the hot path is not compiled: there is no Gate.check symbol for callgrind to count in")
    base = _collected(0)
    total = _collected(args.calls)
    per_call = (total - base) / args.calls
    print(f"hot path: {compiled} of {len(_accel.status())} modules compiled")
    print(f"instructions per decision: {per_call:,.0f} over {args.calls} distinct calls "
          f"(warm-up alone {base:,}, with the calls {total:,})")
    if args.json:
        print(json.dumps({"instructions_per_decision": round(per_call), "calls": args.calls}))


if __name__ == "__main__":
    main()
