"""Latency and start-up benchmarks for the decision core and the check API.

    python bench/latency.py                 # all sections
    python bench/latency.py --only core     # in-process decisions only
    python bench/latency.py --json          # ends with one JSON line

Sections:
  core   in-process `Gate.check` over distinct calls never seen before (benchmark cases
         with every string value made unique), without a session and with the memory store.
  http   POST /v1/check on loopback, one keep-alive connection, sequential, against a bare
         ASGI app served the same way in the same run (ratio = gate p50 / bare p50).
  start  `gate serve` from process start to a 200 on /readyz, and its resident memory, for
         the example policies and for 1,000 generated agent policies (sharing identity text).

The hot path runs as installed: compiled by `pip install` where a C compiler was present
(gate/_accel.py says which modules are). `GATE_PURE_PYTHON=1 python bench/latency.py` measures
the pure-Python source instead.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gate.evaluation.data import load_cases  # noqa: E402
from gate.evaluation.runner import percentile  # noqa: E402


def _word(tag: str) -> str:
    """A made-up lower-case word unique to `tag` (letters only, so it survives the canonical
    text, which drops digits and identifiers)."""
    n = int.from_bytes(tag.encode(), "big") % (26 ** 8)
    out = ""
    for _ in range(8):
        n, r = divmod(n, 26)
        out += chr(97 + r)
    return out


def _uniq(args: Any, tag: str) -> Any:
    """A copy of `args` that was never seen before but keeps its shape: digits in every
    string are rotated by the call's tag (INV-1009 stays a valid invoice id, as INV-4532),
    and free text (three words or more) also starts with a made-up word unique to the call,
    so its canonical text and embedding are new too (no cache can have seen them)."""
    if isinstance(args, dict):
        return {k: _uniq(v, tag) for k, v in args.items()}
    if isinstance(args, list):
        return [_uniq(v, tag) for v in args]
    if isinstance(args, str):
        shift = sum(map(ord, tag))
        out = "".join(chr(48 + (ord(ch) - 48 + shift + i) % 10) if ch.isdigit() else ch for i, ch in enumerate(args))
        return f"{_word(tag)} {out}" if len(args.split()) >= 3 else out
    return args


def distinct_requests(n: int, session: bool, calls_per_session: int = 10) -> list[dict[str, Any]]:
    """`n` calls never seen before: every string argument carries a unique tag. With
    `session`, consecutive calls of one agent form sessions of `calls_per_session` calls
    whose task is imprinted once (as an orchestrator would send it)."""
    cases = [c for c in load_cases(CASES) if not c.history]
    by_agent: dict[str, list[Any]] = {}
    for c in cases:
        by_agent.setdefault(c.agent, []).append(c)
    agents = sorted(by_agent)
    rng = random.Random(7)
    out = []
    for i in range(n):
        s_idx, k = divmod(i, calls_per_session)
        pool = by_agent[agents[s_idx % len(agents)]] if session else cases
        c = pool[(s_idx * 7 + k) % len(pool)] if session else cases[i % len(cases)]
        tag = f"call{i}{rng.choice(['alpha', 'bravo', 'delta', 'echo', 'kilo'])}"
        req: dict[str, Any] = {"agent": c.agent, "action": {"tool": c.action["tool"], "args": _uniq(c.action.get("args") or {}, tag)}}
        first = pool[(s_idx * 7) % len(pool)] if session else c
        if first.task:
            req["task"] = f"{first.task} (session {s_idx})" if session else first.task
        if session:
            req["session"] = f"lat-{s_idx}"
        out.append(req)
    return out


def _stats(ts: list[float]) -> dict[str, float]:
    return {"p50_us": percentile(ts, 50) * 1e6, "p99_us": percentile(ts, 99) * 1e6, "mean_us": sum(ts) / len(ts) * 1e6, "n": len(ts)}


def _core_run(label: str, session: bool, cache: int, n: int, tag: str) -> dict[str, Any]:
    from gate.gate import Gate
    from gate.settings import Settings

    gate = Gate.from_policies(ROOT / "bench" / "policies", Settings(audit_path=None, semantic_cache=cache))
    for r in distinct_requests(300, False):   # warm-up: imports, branch caches, allocator
        r["action"]["args"] = _uniq(r["action"]["args"], "warm")
        gate.check(r)
    reqs = distinct_requests(n, session)
    for r in reqs:  # a different tag space than the warm-up (and than every other run)
        r["action"]["args"] = _uniq(r["action"]["args"], tag)
    sem = gate.bundle.library.semantic_cache
    before = len(sem)
    gc.collect()
    gc.freeze()      # as `gate serve` does after loading: long-lived objects leave the GC's scans
    ts = []
    decisions: dict[str, int] = {}
    embedded = 0     # calls that reached the embedding checks
    for r in reqs:
        t0 = time.perf_counter()
        d = gate.check(r)
        ts.append(time.perf_counter() - t0)
        decisions[d.decision] = decisions.get(d.decision, 0) + 1
        embedded += any(v.check == "semantic_scope" for v in d.trail)
    out = _stats(ts) | {"decisions": decisions}
    if cache and embedded:
        out["semantic_hit_rate"] = round(1 - (len(sem) - before) / embedded, 3)
    gc.unfreeze()
    del gate, reqs, sem
    gc.collect()
    return out


def bench_core(n: int, repeat: int = 1) -> dict[str, Any]:
    """Three variants over calls never seen before: without a session, in sessions (memory
    store), and without a session with the semantic cache off (`cold`: every call is embedded
    and searched from scratch). `semantic_hit_rate` is the share of calls whose canonical
    text (identifiers and numbers left out) an earlier call already had.

    With `repeat` > 1 the variants run round-robin `repeat` times, each time on a fresh gate
    and fresh never-seen calls; the figures are the run with the median p50, and
    `p50_runs_us` lists every run's p50 (this machine's timings drift by ±10% between runs)."""
    runs: dict[str, list[dict[str, Any]]] = {}
    for i in range(repeat):
        for label, session, cache in (("no_session", False, 8192), ("memory_session", True, 8192), ("no_session_cold", False, 0)):
            runs.setdefault(label, []).append(_core_run(label, session, cache, n, f"{label}{i}"))
    out = {}
    for label, rs in runs.items():
        ordered = sorted(rs, key=lambda r: r["p50_us"])
        out[label] = ordered[len(ordered) // 2] | {"p50_runs_us": [round(r["p50_us"], 1) for r in rs]}
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(port: int, path: str, timeout: float) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", path)
            if c.getresponse().status == 200:
                return time.perf_counter() - t0
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"port {port} not ready within {timeout}s")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _post_loop(port: int, path: str, bodies: list[bytes]) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    ts = []
    for b in bodies:
        t0 = time.perf_counter()
        conn.request("POST", path, body=b, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        ts.append(time.perf_counter() - t0)
        if resp.status != 200:
            raise RuntimeError(f"{path} answered {resp.status}")
    conn.close()
    return ts


_BARE_APP = '''
import orjson
BODY = orjson.dumps({"decision": "ALLOW", "action": {"tool": "t", "args": {}}, "reasons": []})
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        msg = await receive()
        more = msg.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": BODY})
'''


AUDIT = "off"
CASES = ROOT / "bench" / "cases"


def _serve_cmd(policies: Path, port: int) -> list[str]:
    return [sys.executable, "-m", "gate.cli", "serve", "--policies", str(policies), "--port", str(port), "--audit", AUDIT]


def bench_http(n: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    tmp = Path(tempfile.mkdtemp())
    (tmp / "bareapp.py").write_text(_BARE_APP)
    gport, bport = _free_port(), _free_port()
    gate_p = subprocess.Popen(_serve_cmd(ROOT / "bench" / "policies", gport), env=env, stderr=subprocess.DEVNULL)
    bare_p = subprocess.Popen([sys.executable, "-m", "uvicorn", "bareapp:app", "--port", str(bport), "--no-access-log",
                               "--log-level", "warning", "--loop", "uvloop", "--http", "httptools"],
                              cwd=tmp, env=env, stderr=subprocess.DEVNULL)
    try:
        _wait_ready(gport, "/readyz", 60)
        _wait_ready(bport, "/", 30)
        reqs = [json.dumps(r).encode() for r in distinct_requests(n, False)]
        _post_loop(gport, "/v1/check", reqs[:200])
        _post_loop(bport, "/", reqs[:200])
        g = _post_loop(gport, "/v1/check", reqs)
        b = _post_loop(bport, "/", reqs)
    finally:
        for p in (gate_p, bare_p):
            p.terminate()
            p.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    gs, bs = _stats(g), _stats(b)
    return {"gate": gs, "bare_asgi": bs, "p50_ratio": gs["p50_us"] / bs["p50_us"]}


def _thousand_policies(dst: Path, n: int = 1000) -> None:
    import yaml

    srcs = sorted((ROOT / "bench" / "policies").glob("*.yaml"))
    rng = random.Random(11)
    for i in range(n):
        data = yaml.safe_load(srcs[i % len(srcs)].read_text())
        data["agent"] = f"{data['agent']}-{i:04d}"
        if i % 10 == 0:  # one in ten has its own identity text
            data["identity"] = data["identity"] + f"\nServes business unit BU-{i:04d} in region {rng.choice(['EMEA', 'APAC', 'AMER'])}."
        (dst / f"agent-{i:04d}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


def bench_start() -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = {}
    tmp = Path(tempfile.mkdtemp())
    try:
        _thousand_policies(tmp)
        for label, pol, limit in (("example_policies", ROOT / "policies", 15), ("1000_agents", tmp, 60)):
            port = _free_port()
            t0 = time.perf_counter()
            p = subprocess.Popen(_serve_cmd(pol, port), env=env, stderr=subprocess.DEVNULL)
            try:
                _wait_ready(port, "/readyz", 180)
                secs = time.perf_counter() - t0
                out[label] = {"ready_s": secs, "target_s": limit, "rss_mb": _rss_mb(p.pid)}
            finally:
                p.terminate()
                p.wait(10)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["core", "http", "start"])
    ap.add_argument("-n", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3, help="core: runs per variant (the median-p50 run is reported)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--audit", default="off", help="audit log path for the served gate (default off)")
    ap.add_argument("--cases", type=Path, default=ROOT / "bench" / "cases", help="benchmark cases the calls are made from (default bench/cases)")
    a = ap.parse_args()
    global AUDIT, CASES
    AUDIT, CASES = a.audit, a.cases
    from gate import _accel
    modes = _accel.status()
    compiled = sum(m == "compiled" for m in modes.values())
    result: dict[str, Any] = {"hot_path": modes}
    print(f"hot path: {compiled} of {len(modes)} modules compiled"
          + (f" ({_accel.PURE_ENV}=1)" if os.environ.get(_accel.PURE_ENV) == "1" else "")
          + (f"; from source: {', '.join(sorted(k for k, m in modes.items() if m != 'compiled'))}" if compiled < len(modes) else ""))
    if a.only in (None, "core"):
        result["core"] = core = bench_core(a.n, a.repeat)
        for k, v in core.items():
            hit = f"  semantic cache hits {v['semantic_hit_rate']:.0%}" if "semantic_hit_rate" in v else "  semantic cache off"
            print(f"core {k:15s} p50 {v['p50_us']:7.1f} us  p99 {v['p99_us']:7.1f} us  mean {v['mean_us']:7.1f} us  n={v['n']}  {v['decisions']}{hit}")
            if len(v["p50_runs_us"]) > 1:
                print(f"     {'':15s} p50 of each run: {', '.join(f'{x:.1f}' for x in v['p50_runs_us'])} us")
    if a.only in (None, "http"):
        result["http"] = h = bench_http(min(a.n, 3000))
        print(f"http gate /v1/check  p50 {h['gate']['p50_us']:7.1f} us  p99 {h['gate']['p99_us']:7.1f} us")
        print(f"http bare ASGI       p50 {h['bare_asgi']['p50_us']:7.1f} us  p99 {h['bare_asgi']['p99_us']:7.1f} us")
        print(f"http p50 ratio gate/bare = {h['p50_ratio']:.2f} (target <= 3)")
    if a.only in (None, "start"):
        result["start"] = s = bench_start()
        for k, v in s.items():
            print(f"start {k:17s} ready in {v['ready_s']:5.2f} s (target {v['target_s']} s), RSS {v['rss_mb']:.0f} MiB")
    if a.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
