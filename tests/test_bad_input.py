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


# --- Python callers: values JSON cannot carry ----------------------------------------------------

class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text")

    __repr__ = __str__


class _Int(int):
    pass


BILLING = Path(__file__).resolve().parent.parent / "policies"


@pytest.fixture()
def billing() -> Gate:
    return Gate.from_policies(BILLING, Settings(audit_path=None))


def _refund(args: dict[Any, Any], session: str | None = "py") -> dict[str, Any]:
    body: dict[str, Any] = {"agent": "billing-assistant", "action": {"tool": "issue_refund", "args": args}}
    if session is not None:
        body["session"] = session
    return body


@pytest.mark.parametrize("args,where,observed", [
    # a non-text key: a raw ValueError from the schema validator (check) or a TypeError (observe)
    ({"invoice_id": "INV-1", "amount": 5, 1: "x"}, "`action.args` has a key of type int", True),
    ({"invoice_id": "INV-1", "amount": 5, (1, 2): "x"}, "`action.args` has a key of type tuple", True),
    # a value whose __str__ raises: a RuntimeError out of the cascade
    ({"invoice_id": "INV-1", "amount": _Unprintable()}, "`action.args.amount` is a _Unprintable", True),
    # subclasses the schema validator refuses: a raw `ValueError: Unsupported type` (observe has no schema to run)
    ({"invoice_id": "INV-1", "amount": _Int(4000)}, "`action.args.amount` is a _Int (a subclass of int)", False),
])
def test_python_values_a_check_cannot_read_are_refused_naming_them(billing: Gate, args: dict[Any, Any], where: str,
                                                                    observed: bool) -> None:
    from gate.errors import InvalidRequest

    for session in (None, "py"):
        with pytest.raises(InvalidRequest, match=where.replace("(", r"\(").replace(")", r"\)")):
            billing.check(_refund(args, session))
    if observed:
        with pytest.raises(InvalidRequest, match=where.replace("(", r"\(").replace(")", r"\)")):
            billing.observe({**_refund(args), "result": {"ok": True}})


@pytest.mark.parametrize("field,value,where", [
    ("amount", __import__("decimal").Decimal("40"), "`action.args.amount` is a Decimal"),
    ("note", {"a", "b"}, "`action.args.note` is a set"),
])
def test_with_an_audit_log_a_non_json_value_is_refused_before_the_session_changes(tmp_path: Path, field: str, value: Any,
                                                                                 where: str) -> None:
    # Was: decided (the session counted the refund), then a TypeError while queueing the audit record.
    from gate.errors import InvalidRequest

    gate = Gate.from_policies(BILLING, Settings(audit_path=tmp_path / "audit.jsonl"))
    try:
        with pytest.raises(InvalidRequest, match=where):
            gate.check(_refund({"invoice_id": "INV-1", "amount": 40, field: value}))
        assert gate.session("billing-assistant", "py") is None
    finally:
        gate.close()


def test_one_unserializable_audit_record_does_not_stop_the_writer(tmp_path: Path) -> None:
    # Was: the writer thread died on the record (a lone surrogate in `task`), and every later
    # decision's record queued until the queue filled, then dropped.
    from gate.audit import FileAuditSink, verify_logs

    path = tmp_path / "audit.jsonl"
    sink = FileAuditSink(path, interval_s=0.01)
    gate = Gate.from_policies(BILLING, Settings(audit_path=None), audit=sink)
    try:
        sink.write({"event": "bad", "task": "\ud800"})
        ok = gate.check(_refund({"invoice_id": "INV-1", "amount": 40}))
    finally:
        gate.close()
    lines = [__import__("json").loads(x) for x in path.read_text().splitlines()]
    assert [r.get("decision_id") for r in lines] == [ok.decision_id]
    assert lines[0]["dropped_before"] == 1 and sink.dropped == 1
    assert verify_logs([path])["ok"]


def test_python_surrogates_in_session_or_task_are_refused_naming_them(billing: Gate) -> None:
    from gate.errors import InvalidRequest

    with pytest.raises(InvalidRequest, match="`session` holds a lone surrogate"):
        billing.check(_refund({"invoice_id": "INV-1", "amount": 40}, session="s-\ud800"))
    with pytest.raises(InvalidRequest, match="`task` holds a lone surrogate"):
        billing.check({**_refund({"invoice_id": "INV-1", "amount": 40}), "task": "refund \udc00"})
