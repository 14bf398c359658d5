"""Proxy hop under load: upstream directly versus through `gate proxy` (ALLOW path).

    python bench/proxy_load.py [--seconds 10] [--connections 16] [--client wrk|aiohttp]
                               [--transports aiohttp,httpx-aiohttp,httpx] [--delays 0,1,5] [--pin]

Starts, on 127.0.0.1 only: a small aiohttp upstream (subprocess) that answers after a simulated
tool latency (`--delays`, ms, asyncio.sleep: 0 is the bare upstream, 1 and 5 stand for real
tools), then `gate proxy` (subprocess, uvicorn, access log off, uvloop/httptools when installed)
for each forwarder, and drives each target with N concurrent keep-alive clients for a bounded
time, from a separate process: `wrk` when it is on PATH, else an aiohttp client. Prints
requests/s, p50 and p99 for each target, the throughput ratio proxy/direct (target >= 0.60) and
the added p99 latency (target <= 1 ms), and the proxy's CPU time per request.

Load generator, proxy and upstream share the machine's cores (2 on the reference VM), so the
"direct" baseline gets the proxy's core for free: the ratio is a lower bound on a machine where
the proxy has a core of its own. `--pin` puts the load generator on CPU 0 and the proxy and
upstream on CPU 1 (taskset). A script that prints numbers, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gate.testing import free_port, spawned  # noqa: E402
POLICIES = ROOT / "tests" / "fixtures" / "policies"
KEY = "test-key-billing"
PATH = "/v1/invoices/INV-1001"
MAX_REQUESTS_PER_CLIENT = 1_000_000   # every load loop is bounded in count as well as time

UPSTREAM = """
import asyncio, sys
from aiohttp import web
BODY = b'{"invoice_id":"INV-1001","amount":42.5,"currency":"USD","status":"paid","lines":[{"sku":"A","qty":1}]}'
DELAY = float(sys.argv[2]) / 1000 if len(sys.argv) > 2 else 0.0
async def invoice(request):
    if DELAY:
        await asyncio.sleep(DELAY)  # a tool that does some work (I/O bound)
    return web.Response(body=BODY, content_type="application/json")
app = web.Application()
app.router.add_get("/v1/invoices/{invoice_id}", invoice)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""

ROUTES = """
upstreams:
  api: {{url: "http://127.0.0.1:{port}", timeouts: {{connect: 2, read: 10, total: 10, stream: 60}}}}
max_connections: 64
routes:
  - {{method: GET, path: "/v1/invoices/{{invoice_id}}", tool: read_invoice, upstream: api}}
"""

AIOHTTP_CLIENT = """
import asyncio, json, sys, time
import aiohttp
url, conns, seconds, cap, key = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
async def worker(session, deadline, lat, errors):
    for _ in range(cap):
        if time.perf_counter() >= deadline:
            return
        t0 = time.perf_counter()
        try:
            async with session.get(url, headers={"X-Gate-Key": key}) as r:
                await r.read()
                if r.status != 200:
                    errors.append(r.status)
        except aiohttp.ClientError:
            errors.append(0)
        lat.append(time.perf_counter() - t0)
async def main():
    lat, errors = [], []
    conn = aiohttp.TCPConnector(limit=conns)
    async with aiohttp.ClientSession(connector=conn) as s:
        for _ in range(conns):  # warm the pool
            async with s.get(url, headers={"X-Gate-Key": key}) as r:
                await r.read()
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(s, t0 + seconds, lat, errors) for _ in range(conns)))
        elapsed = time.perf_counter() - t0
    lat.sort()
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1e3
    print(json.dumps({"rps": len(lat) / elapsed, "p50_ms": q(0.50), "p99_ms": q(0.99), "n": len(lat), "errors": len(errors)}))
asyncio.run(main())
"""


def spawn(args: list[str], port: int, cpus: str | None = None) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    if cpus is not None:
        args = ["taskset", "-c", cpus] + args  # taskset execs the command: the pid is the process's own
    return spawned(args, port, cwd=ROOT, stderr=subprocess.PIPE, wait_s=30.0, stop_s=10.0)


def _ms(value: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", value)
    if not m:
        raise ValueError(value)
    return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), 0.0 when unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def load(url: str, conns: int, seconds: float, client: str, cpus: str | None = None) -> dict[str, Any]:
    pin = ["taskset", "-c", cpus] if cpus is not None else []
    if client == "wrk":
        out = subprocess.run(pin + ["wrk", f"-t{min(2, conns)}", f"-c{conns}", f"-d{int(seconds)}s", "--latency",
                                    "--timeout", "5s", "-H", f"X-Gate-Key: {KEY}", url],
                             capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
        lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
        errs = re.search(r"Socket errors: .*", out)
        n = re.search(r"(\d+) requests in", out)
        return {"rps": rps, "p50_ms": _ms(lat["50"]), "p99_ms": _ms(lat["99"]), "n": int(n.group(1)) if n else 0,
                "errors": int(bad.group(1)) if bad else 0, "socket_errors": errs.group(0) if errs else ""}
    out = subprocess.run(pin + [sys.executable, "-c", AIOHTTP_CLIENT, url, str(conns), str(seconds),
                                str(MAX_REQUESTS_PER_CLIENT), KEY], capture_output=True, text=True,
                         timeout=seconds + 60, check=True).stdout
    return json.loads(out)


def measure(url: str, args: argparse.Namespace, seconds: float, pid: int | None,
            conns: int | None = None) -> dict[str, Any]:
    """Warm up, then one bounded run; adds the CPU time `pid` spent per request."""
    conns = conns or args.connections
    load(url, conns, 2, args.client, args.load_cpus)  # warm-up
    c0 = cpu_seconds(pid) if pid else 0.0
    r = load(url, conns, seconds, args.client, args.load_cpus)
    if pid and r.get("n"):
        r["cpu_us"] = (cpu_seconds(pid) - c0) / r["n"] * 1e6
    return r


def _row(name: str, r: dict[str, Any], base: dict[str, Any]) -> str:
    cpu = f"{r['cpu_us']:8.0f}" if "cpu_us" in r else f"{'':8}"
    return (f"{name:34} {r['rps']:9.0f} {r['p50_ms']:8.3f} {r['p99_ms']:8.3f} {r.get('errors', 0):7d} "
            f"{r['rps'] / base['rps']:6.2f} {r['p99_ms'] - base['p99_ms']:8.3f} {cpu}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--client", choices=["wrk", "aiohttp"], default="wrk" if shutil.which("wrk") else "aiohttp")
    ap.add_argument("--transports", default="aiohttp,httpx-aiohttp,httpx",
                    help="proxy forwarders to measure, comma separated (aiohttp, httpx-aiohttp, httpx)")
    ap.add_argument("--delays", default="0,1,5", help="simulated tool latency of the upstream, ms, comma separated")
    ap.add_argument("--single", action=argparse.BooleanOptionalAction, default=True,
                    help="also measure one client at a time (bare upstream only)")
    ap.add_argument("--pin", action="store_true", help="taskset: load generator on CPU 0, proxy and upstream on CPU 1")
    args = ap.parse_args(argv)
    seconds = min(max(args.seconds, 1.0), 120.0)
    pin = args.pin and shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
    args.load_cpus, serve_cpus = ("0", "1") if pin else (None, None)

    def has(mod: str) -> bool:
        import importlib.util
        return importlib.util.find_spec(mod) is not None

    print(f"# proxy_load: {args.connections} concurrent clients x {seconds:.0f}s, load from {args.client}; "
          f"cpus={os.cpu_count()} uvloop={has('uvloop')} httptools={has('httptools')}; "
          + ("pinned: load on CPU 0, proxy + upstream on CPU 1" if pin else "not pinned"))
    print(f"# load generator, proxy and upstream all run on these {os.cpu_count()} cores (127.0.0.1 only); "
          "cpu us/req is the proxy process's user+system CPU per request")
    print(f"{'target':34} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'ratio':>6} {'+p99 ms':>8} "
          f"{'cpu us/req':>8}")
    summary: list[str] = []
    for delay in [float(d) for d in args.delays.split(",") if d]:
        up_port = free_port()
        with tempfile.TemporaryDirectory() as tmp, \
                spawn([sys.executable, "-c", UPSTREAM, str(up_port), str(delay)], up_port, serve_cpus):
            routes = Path(tmp) / "routes.yaml"
            routes.write_text(ROUTES.format(port=up_port))
            direct = f"http://127.0.0.1:{up_port}{PATH}"
            base = measure(direct, args, seconds, None)
            label = f"[tool {delay:g} ms]"
            print(_row(f"{label} upstream direct", base, base), flush=True)
            single: list[tuple[str, dict[str, Any]]] = []
            if args.single and delay == 0:
                single.append(("upstream direct", measure(direct, args, min(seconds, 5), None, 1)))
            for kind in [k for k in args.transports.split(",") if k]:
                port = free_port()
                cmd = [sys.executable, "-m", "gate.cli", "proxy", "--policies", str(POLICIES), "--routes", str(routes),
                       "--port", str(port), "--audit", "off", "--transport", kind]
                with spawn(cmd, port, serve_cpus) as proc:
                    url = f"http://127.0.0.1:{port}{PATH}"
                    r = measure(url, args, seconds, proc.pid)
                    print(_row(f"{label} proxy ({kind})", r, base), flush=True)
                    ratio, added = r["rps"] / base["rps"], r["p99_ms"] - base["p99_ms"]
                    summary.append(f"# {label} proxy ({kind}): throughput ratio {ratio:.2f} (target >= 0.60: "
                                   f"{'met' if ratio >= 0.6 else 'NOT met'}), added p99 {added:.3f} ms (target <= 1 ms: "
                                   f"{'met' if added <= 1.0 else 'NOT met'})")
                    if single:
                        single.append((f"proxy ({kind})", measure(url, args, min(seconds, 5), proc.pid, 1)))
            if single:
                print("# one client at a time (the hop's own latency, no queueing), bare upstream:")
                for name, r in single:
                    print(_row(f"  1 client: {name}", r, single[0][1]), flush=True)
    print("\n".join(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
