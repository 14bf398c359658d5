"""Decision time on large, repetitive arguments and results: the inputs that make backtracking
regular expressions take quadratic time (one operation word repeated thousands of times in one
command, a result full of card-like numbers).

    python bench/adversarial_inputs.py                 # 200 KB per value, the benchmark policies
    python bench/adversarial_inputs.py --kb 400 --top 10

Each of 30 units (`curl -o a.sh http://x `, `git push --force `, …) is repeated to the size given and
sent as the command, message body or file content of four benchmark agents' tools (`check`), and
as a tool result (`observe`). Prints the slowest calls. A call is cut off after `--limit` seconds
(reported as `>limit`). Patterns a policy itself declares (`pattern`, `pattern_deny`, `matches`)
run on RE2 in linear time (gate/policy/regex.py), except those RE2 cannot run (lookaround,
backreferences), which `gate policy lint` names.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

UNITS = {
    "curl": "curl -o a.sh http://x ", "curl_lines": "curl http://x/a\n", "wget": "wget x -O y.py ", "update": "update t set a=1 ",
    "delete": "delete from t ", "rm": "rm -rf x ", "chmod": "chmod 777 ", "drop": "drop table t ", "retention": "put-retention-policy x ",
    "dotenv": "cat .envx ", "guardduty": "guardduty update-detector x ", "push": "git push --force ", "refspec": "git push origin +x ",
    "kubectl": "kubectl delete x ", "socat": "socat > ", "nc": "nc -e ", "masked": "masked.x where ", "iam": "\"Action\": \"s3:*\" ",
    "private": "cat private key ", "secret": "password = 'x' token ", "card": "4111 1111 1111 ", "email": "a@b.co ",
    "update_where": "update t set a=1, b=2 where x ", "delete_or": "delete from t where a or ", "alter": "alter table t x, ",
    "rm_audit": "rm -f /etc/audit/x ", "sed_audit": "sed -i #x /etc/audit/ ", "rsync": "rsync x ", "pg_dump": "pg_dump x ",
    "copy_sql": "insert into t x ",
}
CALLS = [("coding-assistant", "run_shell", "command"), ("sre-agent", "kubectl", "args"),
         ("billing-assistant", "send_customer_email", "body"), ("mcp-desktop", "filesystem.write_file", "content")]


class _Late(Exception):
    pass


def _alarm(*_: object) -> None:
    raise _Late()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kb", type=int, default=200)
    ap.add_argument("--limit", type=int, default=30, help="seconds before a call is cut off")
    ap.add_argument("--top", type=int, default=8)
    a = ap.parse_args()
    from gate.gate import Gate
    from gate.settings import Settings

    gate = Gate.from_policies(ROOT / "bench" / "policies", Settings(audit_path=None))
    signal.signal(signal.SIGALRM, _alarm)
    rows: list[tuple[float, str, str, str]] = []
    for name, unit in UNITS.items():
        text = unit * (a.kb * 1000 // len(unit))
        for agent, tool, key in CALLS:
            for mode in ("check", "observe"):
                signal.alarm(a.limit)
                t0 = time.perf_counter()
                try:
                    if mode == "check":
                        gate.check({"agent": agent, "session": f"c-{name}-{tool}", "action": {"tool": tool, "args": {key: text}}})
                    else:
                        gate.observe({"agent": agent, "session": f"o-{name}-{tool}", "action": {"tool": tool, "args": {key: "x"}},
                                      "result": {"output": text}})
                    dt = time.perf_counter() - t0
                except _Late:
                    dt = float("inf")
                finally:
                    signal.alarm(0)
                rows.append((dt, name, f"{agent}.{tool}", mode))
    rows.sort(reverse=True)
    print(f"{len(rows)} calls with {a.kb} KB values; slowest:")
    for dt, name, where, mode in rows[:a.top]:
        shown = f">{a.limit} s" if dt == float("inf") else f"{dt * 1000:.0f} ms"
        print(f"  {shown:>10}  {name:11s} {where:40s} {mode}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
