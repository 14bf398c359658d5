"""Proxy hop under load: upstream directly versus through `gate proxy` (ALLOW path).

    python bench/proxy_load.py [--seconds 10] [--connections 16] [--client wrk|aiohttp]
                               [--transports aiohttp,httpx]

Starts, on 127.0.0.1 only: a small aiohttp upstream (subprocess), then `gate proxy` (subprocess,
uvicorn, access log off, uvloop/httptools when installed) for each transport, and drives each
target with N concurrent keep-alive clients for a bounded time, from a separate process: `wrk`
when it is on PATH, else an aiohttp client. Prints requests/s, p50 and p99 for each target, the
throughput ratio proxy/direct (target >= 0.60) and the added p99 latency (target <= 1 ms).
A script that prints numbers, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "tests" / "fixtures" / "policies"
KEY = "test-key-billing"
PATH = "/v1/invoices/INV-1001"
MAX_REQUESTS_PER_CLIENT = 1_000_000   # every load loop is bounded in count as well as time

UPSTREAM = """
import sys
from aiohttp import web
BODY = b'{"invoice_id":"INV-1001","amount":42.5,"currency":"USD","status":"paid","lines":[{"sku":"A","qty":1}]}'
async def invoice(request):
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], limit_s: float = 30.0) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port}")


@contextlib.contextmanager
def spawn(args: list[str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_port(port, proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _ms(value: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", value)
    if not m:
        raise ValueError(value)
    return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]


def load(url: str, conns: int, seconds: float, client: str) -> dict[str, Any]:
    if client == "wrk":
        out = subprocess.run(["wrk", f"-t{min(2, conns)}", f"-c{conns}", f"-d{int(seconds)}s", "--latency", "--timeout", "5s",
                              "-H", f"X-Gate-Key: {KEY}", url], capture_output=True, text=True, timeout=seconds + 30,
                             check=True).stdout
        lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
        errs = re.search(r"Socket errors: .*", out)
        return {"rps": rps, "p50_ms": _ms(lat["50"]), "p99_ms": _ms(lat["99"]),
                "errors": int(bad.group(1)) if bad else 0, "socket_errors": errs.group(0) if errs else ""}
    out = subprocess.run([sys.executable, "-c", AIOHTTP_CLIENT, url, str(conns), str(seconds),
                          str(MAX_REQUESTS_PER_CLIENT), KEY], capture_output=True, text=True, timeout=seconds + 60,
                         check=True).stdout
    return json.loads(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--client", choices=["wrk", "aiohttp"], default="wrk" if shutil.which("wrk") else "aiohttp")
    ap.add_argument("--transports", default="aiohttp,httpx", help="proxy transports to measure, comma separated")
    args = ap.parse_args(argv)
    seconds = min(max(args.seconds, 1.0), 120.0)

    def has(mod: str) -> bool:
        import importlib.util
        return importlib.util.find_spec(mod) is not None

    print(f"# proxy_load: {args.connections} concurrent clients x {seconds:.0f}s, load from {args.client}; "
          f"cpus={os.cpu_count()} uvloop={has('uvloop')} httptools={has('httptools')}")
    rows: list[tuple[str, dict[str, Any]]] = []
    up_port = free_port()
    with tempfile.TemporaryDirectory() as tmp, \
            spawn([sys.executable, "-c", UPSTREAM, str(up_port)], up_port):
        routes = Path(tmp) / "routes.yaml"
        routes.write_text(ROUTES.format(port=up_port))
        direct = f"http://127.0.0.1:{up_port}{PATH}"
        load(direct, args.connections, 2, args.client)  # warm-up
        rows.append(("upstream direct", load(direct, args.connections, seconds, args.client)))
        single = [("upstream direct, 1 client", load(direct, 1, min(seconds, 5), args.client))]
        for kind in [k for k in args.transports.split(",") if k]:
            port = free_port()
            cmd = [sys.executable, "-m", "gate.cli", "proxy", "--policies", str(POLICIES), "--routes", str(routes),
                   "--port", str(port), "--audit", "off", "--transport", kind]
            with spawn(cmd, port):
                url = f"http://127.0.0.1:{port}{PATH}"
                load(url, args.connections, 2, args.client)  # warm-up
                rows.append((f"proxy ({kind} transport)", load(url, args.connections, seconds, args.client)))
                single.append((f"proxy ({kind}), 1 client", load(url, 1, min(seconds, 5), args.client)))

    base = rows[0][1]
    print(f"{'target':28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'ratio':>6} {'+p99 ms':>8}")
    for name, r in rows:
        ratio = r["rps"] / base["rps"]
        added = r["p99_ms"] - base["p99_ms"]
        print(f"{name:28} {r['rps']:9.0f} {r['p50_ms']:8.3f} {r['p99_ms']:8.3f} {r.get('errors', 0):7d} "
              f"{ratio:6.2f} {added:8.3f}")
    print("# one client at a time (the hop's own cost, no queueing):")
    for name, r in single:
        print(f"{name:28} {r['rps']:9.0f} {r['p50_ms']:8.3f} {r['p99_ms']:8.3f} {r.get('errors', 0):7d} "
              f"{r['rps'] / single[0][1]['rps']:6.2f} {r['p99_ms'] - single[0][1]['p99_ms']:8.3f}")
    for name, r in rows[1:]:
        ratio = r["rps"] / base["rps"]
        added = r["p99_ms"] - base["p99_ms"]
        print(f"# {name}: throughput ratio {ratio:.2f} (target >= 0.60: {'met' if ratio >= 0.6 else 'NOT met'}), "
              f"added p99 {added:.3f} ms (target <= 1 ms: {'met' if added <= 1.0 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
