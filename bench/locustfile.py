"""Load on the check API and the HTTP proxy, with locust (FastHttpUser: the cheap client).

    # 1. an upstream, the check API and the proxy (see docs/sidecars.md for the full recipe)
    gate serve --policies tests/fixtures/policies --port 8700 --audit off
    gate proxy --policies tests/fixtures/policies --routes ROUTES.yaml --port 8701 --audit off
    # 2. headless run: --host is the check API; GATE_PROXY_URL the proxy (default http://127.0.0.1:8701)
    locust -f bench/locustfile.py --headless -u 16 -r 16 -t 20s --host http://127.0.0.1:8700

CheckUser posts a mix of ALLOW / REWRITE / BLOCK requests to /v1/check (one session per user);
ProxyUser sends allowed reads through the proxy with the agent's key. Only point it at 127.0.0.1.
"""

from __future__ import annotations

import itertools
import os
import uuid

from locust import FastHttpUser, task

AGENT = "billing-assistant"
KEY = os.environ.get("GATE_KEY", "test-key-billing")
PROXY = os.environ.get("GATE_PROXY_URL", "http://127.0.0.1:8701")

_CALLS = [
    {"tool": "read_invoice", "args": {"invoice_id": "INV-1001"}},                    # ALLOW
    {"tool": "issue_refund", "args": {"invoice_id": "INV-1001", "amount": 500}},     # REWRITE (clamped to 100)
    {"tool": "update_payment_method", "args": {"card": "4111111111111111"}},         # BLOCK (not declared)
]


class CheckUser(FastHttpUser):
    """The check API: an orchestrator asking before each call."""

    weight = 1

    def on_start(self) -> None:
        self.session = f"locust-{uuid.uuid4().hex[:8]}"
        self.calls = itertools.cycle(_CALLS)

    @task
    def check(self) -> None:
        body = {"agent": AGENT, "session": self.session, "task": "Explain and refund invoice INV-1001",
                "action": next(self.calls)}
        with self.client.post("/v1/check", json=body, name="/v1/check", catch_response=True) as r:
            if r.status_code != 200 or r.json().get("decision") not in ("ALLOW", "REWRITE", "BLOCK"):
                r.failure(f"bad answer {r.status_code}")


class ProxyUser(FastHttpUser):
    """The proxy: allowed reads through `gate proxy` to the upstream."""

    weight = 1

    @task
    def read_invoice(self) -> None:
        # Absolute URL: locust's --host applies to every user class, and this one targets the proxy.
        self.client.get(f"{PROXY}/v1/invoices/INV-1001", headers={"X-Gate-Key": KEY}, name="proxy GET /v1/invoices/{id}")
