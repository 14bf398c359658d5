"""Input that used to crash gate, or pass a check it should not: each case here failed before
its fix (see the commit that added it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from gate import Gate
from gate.server import create_app
from gate.settings import Settings

PAYER = """\
agent: payer
identity: Pays supplier invoices up to 100 USD.
tools:
  - name: pay_invoice              # no args_schema: the constraint alone bounds the amount
    description: Pay one supplier invoice
    constraints:
      - arg: amount
        min: 0
        max: 100
        on_violation: clamp
  - name: pay_exact
    description: Pay one supplier invoice
    constraints:
      - arg: amount
        max: 100
"""


@pytest.fixture()
def payer(tmp_path: Path) -> Gate:
    (tmp_path / "payer.yaml").write_text(PAYER)
    return Gate.from_policies(tmp_path, Settings(audit_path=None))


@pytest.fixture()
async def client(payer: Gate) -> Any:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(payer)), base_url="http://gate") as c:
        yield c


@pytest.mark.parametrize("tool", ["pay_invoice", "pay_exact"])
@pytest.mark.parametrize("amount", ["nan", "NaN", " -nan ", "inf", "-Infinity", "1e999"])
async def test_a_non_finite_amount_in_text_is_not_within_a_numeric_bound(client: httpx.AsyncClient, tool: str,
                                                                         amount: str) -> None:
    # "nan" compares false with every bound, so it passed min/max as if in range: an ALLOW
    r = await client.post("/v1/check", json={"agent": "payer", "action": {"tool": tool, "args": {"amount": amount}}})
    assert r.status_code == 200
    body = r.json()
    assert body["decision"] == "BLOCK" and "not a number" in " ".join(x["message"] for x in body["reasons"]), body


def test_a_python_nan_amount_is_not_within_a_numeric_bound(payer: Gate) -> None:
    d = payer.check({"agent": "payer", "action": {"tool": "pay_invoice", "args": {"amount": float("nan")}}})
    assert d.decision == "BLOCK"
