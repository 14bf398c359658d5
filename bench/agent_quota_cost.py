"""What an agent-wide quota (`per: agent`) costs a decision: its counters are read before the
call is decided and spent after it, in the store.

    python bench/agent_quota_cost.py                 # memory store, and a throwaway redis-server on loopback
    python bench/agent_quota_cost.py --calls 5000 --json

Two agents with the same identity and tools; one has an agent-wide quota on `issue_refund`
(limits high enough that nothing is blocked). Each mode decides distinct sessionless refunds of
both agents, interleaved, and reports the `Gate.check` p50/p99 of each and the difference (the
quota's cost: one conditional add, in Redis one round trip, as each call is decided on the
counters the gate's previous add left; the first call also reads them). The last line is JSON.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from gate import Gate  # noqa: E402
from gate.settings import Settings  # noqa: E402
from gate.testing import throwaway_redis  # noqa: E402

POLICY = """
agent: {name}
identity: Customer billing assistant. Reads invoices and issues refunds for damaged orders.
tools:
  - name: read_invoice
  - name: issue_refund
{quotas}
"""
QUOTA = """quotas:
  - id: refunds-per-day
    per: agent
    window: 24h
    tool: issue_refund
    sum: amount
    max_total: 1000000000
"""


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q / 100 * len(s)))] * 1e6


def run(settings: Settings, calls: int, warmup: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        Path(d, "plain.yaml").write_text(POLICY.format(name="plain", quotas=""))
        Path(d, "quota.yaml").write_text(POLICY.format(name="quota", quotas=QUOTA))
        gate = Gate.from_policies(d, settings)
        times: dict[str, list[float]] = {"plain": [], "quota": []}
        for i in range(warmup + calls):
            for agent in ("plain", "quota") if i % 2 else ("quota", "plain"):
                req = {"agent": agent, "action": {"tool": "issue_refund", "args": {"order": f"O-{i}", "amount": 1 + i % 97}}}
                t0 = time.perf_counter()
                d_ = gate.check(req)
                dt = time.perf_counter() - t0
                if d_.decision == "BLOCK":
                    raise SystemExit(f"unexpected BLOCK: {d_.reasons}")
                if i >= warmup:
                    times[agent].append(dt)
        spent = gate.agent_quotas("quota")[0]["calls"]
        gate.close()
    if spent != warmup + calls:
        raise SystemExit(f"the quota counted {spent} calls, expected {warmup + calls}")
    out = {f"{a}_p50_us": round(pct(t, 50), 1) for a, t in times.items()}
    out |= {f"{a}_p99_us": round(pct(t, 99), 1) for a, t in times.items()}
    out["cost_p50_us"] = round(out["quota_p50_us"] - out["plain_p50_us"], 1)
    out["cost_p99_us"] = round(out["quota_p99_us"] - out["plain_p99_us"], 1)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=3000)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--json", action="store_true", help="print only the JSON line")
    a = ap.parse_args(argv)
    gc.freeze()
    res = {"memory": run(Settings(audit_path=None), a.calls, a.warmup)}
    binary = shutil.which("redis-server")
    if binary is not None:
        with throwaway_redis(binary) as server:
            res["redis"] = run(Settings(audit_path=None, store="redis", redis_url=server.url), a.calls, a.warmup)
    if not a.json:
        for mode, r in res.items():
            print(f"{mode:7s} without quota p50 {r['plain_p50_us']:7.1f} p99 {r['plain_p99_us']:7.1f} | "
                  f"with agent quota p50 {r['quota_p50_us']:7.1f} p99 {r['quota_p99_us']:7.1f} | "
                  f"cost p50 {r['cost_p50_us']:+.1f} us, p99 {r['cost_p99_us']:+.1f} us")
    print(orjson.dumps(res).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
