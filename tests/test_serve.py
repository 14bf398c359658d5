"""`gate serve` as the Dockerfile runs it: a real uvicorn process on loopback."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str) -> tuple[int, bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    c.request("GET", path)
    r = c.getresponse()
    return r.status, r.read()


def test_gate_serve_starts_ready_and_decides(tmp_path: Path) -> None:
    port = _port()
    env = {**os.environ, "GATE_AUDIT_PATH": str(tmp_path / "audit.jsonl")}
    proc = subprocess.Popen([sys.executable, "-m", "gate.cli", "serve", "--policies", "policies", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        status = 0
        while time.monotonic() < deadline and status != 200:
            try:
                status, _ = _get(port, "/readyz")
            except OSError:
                time.sleep(0.1)
        assert status == 200, proc.stderr.read1(4096) if proc.poll() is not None else "not ready in 60 s"
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        body = {"agent": "billing-assistant", "action": {"tool": "issue_refund", "args": {"invoice_id": "INV-1", "amount": 500}}}
        c.request("POST", "/v1/check", body=json.dumps(body), headers={"content-type": "application/json"})
        r = c.getresponse()
        out = json.loads(r.read())
        assert r.status == 200 and out["decision"] == "REWRITE" and out["action"]["args"]["amount"] == 100
        c.request("POST", "/v1/check", body=b"{oops", headers={"content-type": "application/json"})
        r = c.getresponse()
        assert r.status == 400 and json.loads(r.read())["error"]["code"] == "malformed_request"
    finally:
        proc.terminate()
        proc.wait(10)
    # the audit queue is flushed on shutdown
    records = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [r["decision"] for r in records] == ["REWRITE"]
