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


@pytest.mark.parametrize("session", ["", "   ", "\t"])
def test_a_blank_session_id_is_refused_and_changes_nothing(billing: Gate, session: str) -> None:
    """A blank id would make a session that `GET /v1/sessions/{agent}/{session}` cannot name."""
    from gate.errors import InvalidRequest

    for call in (billing.check, billing.observe):
        with pytest.raises(InvalidRequest, match="`session` must not be empty or blank"):
            call(_refund({"invoice_id": "INV-1", "amount": 40}, session=session))
    assert len(billing.store) == 0
    assert billing.check(_refund({"invoice_id": "INV-1", "amount": 40}, session="s-1")).decision == "ALLOW"
    assert len(billing.store) == 1


# --- properties ---------------------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_AMOUNT_TEXT = st.one_of(
    st.from_regex(r"\A\s?[-+]?(nan|inf|infinity|NaN|Inf|[0-9_]{1,6}(\.[0-9]{0,3})?(e[-+]?[0-9]{1,3})?)\s?\Z"),
    st.text(max_size=8),
)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(amount=st.one_of(_AMOUNT_TEXT, st.floats(), st.integers(), st.booleans()))
def test_an_amount_a_bound_lets_through_is_a_finite_number_within_it(payer: Gate, amount: Any) -> None:
    # (a null amount is an absent one: the constraint bounds values that are there, unless `required`)
    for tool in ("pay_invoice", "pay_exact"):
        d = payer.check({"agent": "payer", "action": {"tool": tool, "args": {"amount": amount}}})
        if d.decision != "BLOCK":
            executed = float(d.action["args"]["amount"])
            assert 0 <= executed <= 100 if tool == "pay_invoice" else executed <= 100, (amount, d.decision)


_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2 ** 70), max_value=2 ** 70), st.floats(allow_nan=False),
              st.text(max_size=12)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=12,
)


@st.composite
def _raw_bodies(draw: Any) -> bytes:
    """A check/observe body, as bytes, with a few bytes spliced in: invalid UTF-8, NUL, odd literals."""
    import json

    body = {"agent": draw(st.sampled_from(["payer", "", "nobody"])), "session": draw(st.one_of(st.none(), _JSON)),
            "action": draw(st.one_of(_JSON, st.fixed_dictionaries({"tool": st.sampled_from(["pay_invoice", "x"]),
                                                                    "args": _JSON}))),
            "result": draw(_JSON), "decision_id": draw(_JSON)}
    raw = json.dumps(body).encode()
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(raw)))
        junk = draw(st.sampled_from([b"\xff", b"\x00", b"\xed\xa0\x80", b"NaN", b"1e999", b"-", b"{", b"\\ud800", b'"', b"9" * 400]))
        raw = raw[:at] + junk + raw[at:]
    return raw


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(raw=_raw_bodies(), path=st.sampled_from(["/v1/check", "/v1/observe"]))
def test_any_body_gets_a_decision_or_a_4xx_in_the_error_shape(payer: Gate, raw: bytes, path: str) -> None:
    import asyncio

    async def post() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(payer)), base_url="http://gate") as c:
            return await c.post(path, content=raw, headers={"content-type": "application/json"})

    r = asyncio.run(post())
    assert r.status_code == 200 or 400 <= r.status_code < 500, (r.status_code, r.text)
    if r.status_code != 200:
        err = r.json()["error"]
        assert err["code"] and err["message"]


def test_cli_check_refuses_an_empty_request_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Was: exit 0 with no output, so `gate check --exit-code` passed a file that decided nothing.
    from gate.cli import main

    (tmp_path / "payer.yaml").write_text(PAYER)
    (tmp_path / "requests.json").write_text("[]")
    assert main(["check", "--policies", str(tmp_path), str(tmp_path / "requests.json")]) == 2
    out = capsys.readouterr()
    assert out.out == "" and "empty list" in out.err


DENIER = """\
agent: denier
identity: Pays supplier invoices; large ones need a second approval first.
tools:
  - name: pay_invoice
    description: Pay one supplier invoice
  - name: approve_large
    description: Record the second approval of a large payment
  - name: export_ledger
    description: Export the ledger
deny:
  - id: big
    tool: pay_invoice
    when:
      amount: {gt: 1000}
    message: payments above 1000 are not this agent's
  - id: unapproved
    tool: pay_invoice
    when:
      amount: {gt: 500}
    unless_after:
      tool: approve_large
      when:
        limit: {lt: 1000}
    message: payments above 500 need a second approval first
  - id: after-export
    tool: pay_invoice
    after:
      tool: export_ledger
      when:
        rows: {gt: 1000}
    message: no payments in a session that exported the ledger in bulk
"""


@pytest.fixture()
def denier(tmp_path: Path) -> Gate:
    (tmp_path / "denier.yaml").write_text(DENIER)
    return Gate.from_policies(tmp_path, Settings(audit_path=None))


@pytest.mark.parametrize("amount", ["nan", " NaN ", float("nan")])
def test_a_deny_rule_on_a_number_stops_a_nan(denier: Gate, amount: Any) -> None:
    # NaN compares false with every number: `amount gt 1000` did not hold, so the deny rule let it by
    d = denier.check({"agent": "denier", "action": {"tool": "pay_invoice", "args": {"amount": amount}}})
    assert d.decision == "BLOCK" and d.reasons[0]["code"] == "deny_rule"
    ok = denier.check({"agent": "denier", "action": {"tool": "pay_invoice", "args": {"amount": 20}}})
    assert ok.decision == "ALLOW"


def _run(gate: Gate, session: str, calls: list[tuple[str, dict[str, Any]]]) -> str:
    for tool, args in calls[:-1]:
        d = gate.check({"agent": "denier", "session": session, "action": {"tool": tool, "args": args}})
        assert d.decision == "ALLOW", d.reasons
        gate.observe({"agent": "denier", "session": session, "decision_id": d.decision_id,
                      "action": {"tool": tool, "args": args}, "result": {"ok": True}})
    tool, args = calls[-1]
    return gate.check({"agent": "denier", "session": session, "action": {"tool": tool, "args": args}}).decision


def test_a_nan_never_meets_an_exempting_step_and_always_meets_a_restricting_one(denier: Gate) -> None:
    # an approval of limit 500 exempts; one of limit "nan" must not
    assert _run(denier, "s1", [("approve_large", {"limit": 500}), ("pay_invoice", {"amount": 800})]) == "ALLOW"
    assert _run(denier, "s2", [("approve_large", {"limit": "nan"}), ("pay_invoice", {"amount": 800})]) == "BLOCK"
    # a bulk export of "nan" rows counts as the bulk export the `after` rule waits for
    assert _run(denier, "s3", [("export_ledger", {"rows": 10}), ("pay_invoice", {"amount": 20})]) == "ALLOW"
    assert _run(denier, "s4", [("export_ledger", {"rows": "nan"}), ("pay_invoice", {"amount": 20})]) == "BLOCK"
