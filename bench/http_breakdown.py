"""Where the time of an HTTP /v1/check goes: the same load as `bench/latency.py --only http`,
with the server timing its own segments.

    python bench/http_breakdown.py            # three server variants, 3,000 calls each
    python bench/http_breakdown.py -n 1000

Variants of `gate serve` (each against a bare ASGI app measured in the same run):
  real     the gate as served
  cached   Gate.check returns the first decision it made: no core work, everything else as served
  spin     as `cached`, plus a 200 µs busy wait in place of the core (time passes, no memory touched)

Server-side segments (p50, µs): `receive` from the ASGI call to the handler, `parse` to the
decision, `decide` the Gate.check call, `serialise` back to the handler's return, `send` the
two ASGI sends. The client figure is the round trip `bench/latency.py` reports.

Then, in one process over the same calls: the decision p50 back to back, with a cheap system
call between decisions, and with a `time.sleep(0)` between them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import latency  # noqa: E402

# Runs as the served process: wraps the ASGI entry, the shared handler and Gate.check with
# timers, then starts `gate serve` as the CLI would.
_SERVER = r'''
import json, os, sys, time
from gate import gate as G, server as S
OUT, MODE = os.environ["BREAKDOWN_OUT"], os.environ["BREAKDOWN_MODE"]
rows, cur, cached = [], {}, {}
call, handle, check = S.FastPath.__call__, S.handle, G.Gate.check

async def timed_call(self, scope, receive, send):
    cur.clear(); cur["a"] = time.perf_counter()
    await call(self, scope, receive, send)
    cur["z"] = time.perf_counter(); rows.append(dict(cur))
    if len(rows) % 250 == 0:
        with open(OUT, "w") as f:
            json.dump(rows, f)

async def timed_handle(*a):
    cur["h0"] = time.perf_counter(); r = await handle(*a); cur["h1"] = time.perf_counter(); return r

def timed_check(self, request, *, via="python"):
    cur["c0"] = time.perf_counter()
    if MODE == "real":
        d = check(self, request, via=via)
    else:
        d = cached.get("d") or cached.setdefault("d", check(self, request, via=via))
        if MODE == "spin":
            t = time.perf_counter()
            while time.perf_counter() - t < 0.0002:
                pass
    cur["c1"] = time.perf_counter(); return d

S.FastPath.__call__, S.handle, G.Gate.check = timed_call, timed_handle, timed_check
from gate.cli import main
raise SystemExit(main(["serve"] + sys.argv[1:]))
'''

SEGMENTS = (("receive", "a", "h0"), ("parse", "h0", "c0"), ("decide", "c0", "c1"),
            ("serialise", "c1", "h1"), ("send", "h1", "z"), ("server total", "a", "z"))


def run(mode: str, n: int) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp())
    script, out = tmp / "served.py", tmp / "rows.json"
    script.write_text(_SERVER)
    os.environ.update(BREAKDOWN_OUT=str(out), BREAKDOWN_MODE=mode)
    latency._serve_cmd = lambda policies, port: [sys.executable, str(script), "--policies", str(policies),
                                                 "--port", str(port), "--audit", "off"]
    h = latency.bench_http(n)
    rows = [r for r in json.loads(out.read_text())[-n:] if all(k in r for k in ("a", "h0", "c0", "c1", "h1", "z"))]
    res = {"client_gate_p50_us": h["gate"]["p50_us"], "client_bare_p50_us": h["bare_asgi"]["p50_us"],
           "ratio": h["p50_ratio"], "timed_requests": len(rows)}
    for name, a, b in SEGMENTS:
        res[f"{name}_p50_us"] = statistics.median(r[b] - r[a] for r in rows) * 1e6
    return res


def in_process(n: int) -> dict[str, float]:
    """Decision p50 in one process over the same calls, back to back and with a `time.sleep(0)`
    (the thread yields, the vCPU may idle) or a cheap system call between decisions."""
    import gc
    import time

    from gate.gate import Gate
    from gate.settings import Settings

    out = {}
    for label, between in (("back_to_back", None), ("getppid_between", os.getppid), ("sleep0_between", lambda: time.sleep(0))):
        gate = Gate.from_policies(ROOT / "bench" / "policies", Settings(audit_path=None))
        reqs = latency.distinct_requests(n, False)
        gc.collect()
        gc.freeze()
        ts = []
        for r in reqs:
            if between is not None:
                between()
            t0 = time.perf_counter()
            gate.check(r, via="api")
            ts.append(time.perf_counter() - t0)
        gc.unfreeze()
        out[f"{label}_p50_us"] = statistics.median(ts) * 1e6
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=3000)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    result = {}
    print(f"{'variant':8s} {'client':>8s} {'bare':>7s} {'ratio':>6s} | " + " ".join(f"{s:>12s}" for s, _, _ in SEGMENTS) + "   (p50, µs)")
    for mode in ("real", "cached", "spin"):
        r = result[mode] = run(mode, a.n)
        print(f"{mode:8s} {r['client_gate_p50_us']:8.1f} {r['client_bare_p50_us']:7.1f} {r['ratio']:6.2f} | "
              + " ".join(f"{r[f'{s}_p50_us']:12.1f}" for s, _, _ in SEGMENTS))
    result["in_process"] = ip = in_process(a.n)
    print("in process, decision p50: " + ", ".join(f"{k[:-7].replace('_', ' ')} {v:.1f} µs" for k, v in ip.items()))
    if a.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
