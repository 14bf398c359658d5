"""Secrets and personal data bound for an outbound sink are found when invisible format
characters split them (the recipient still reads them whole) and when they ride in an argument's
*name* rather than its value. Before, each call stopped or rewritten below was allowed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gate.gate import Gate
from gate.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk_live_51HcDeFgHiJkLmNoPqRsTuVwXyZ0123456789abcd"


@pytest.fixture(scope="module")
def gate() -> Gate:
    return Gate.from_policies(ROOT / "policies", Settings(audit_path=None))


def _mail(gate: Gate, **extra: Any) -> Any:
    args = {"to": "bob@customer.example", "subject": "Your invoice", "body": "Your invoice INV-1 is attached.", **extra}
    return gate.check({"agent": "billing-assistant", "action": {"tool": "send_customer_email", "args": args}})


@pytest.mark.parametrize("body", [
    "Your card 4111\u200b1111\u200b1111\u200b1111 was refunded.",
    "Your card 4111\u20601111\u20601111\u20601111 was refunded.",       # word joiner
    "SSN 123\u200d-45-6789 is on file.",                               # zero-width joiner
])
def test_personal_data_split_by_invisible_characters_is_redacted(gate: Gate, body: str) -> None:
    d = _mail(gate, body=body)
    assert d.decision == "REWRITE", (body, d.decision, [r["code"] for r in d.reasons])
    out = d.action["args"]["body"]
    assert "[REDACTED:" in out and "1111" not in out and "6789" not in out


@pytest.mark.parametrize("body", [f"Key: sk_\u200blive_{KEY[8:]}", f"Key: {KEY[:12]}\ufeff{KEY[12:]}"])
def test_a_credential_split_by_invisible_characters_is_refused(gate: Gate, body: str) -> None:
    d = _mail(gate, body=body)
    assert d.decision == "BLOCK" and "secret_outbound" in [r["code"] for r in d.reasons]


@pytest.mark.parametrize("extra, code", [
    ({"meta": {KEY: "ok"}}, "sensitive_data_in_key"),
    ({"headers": [{"4111 1111 1111 1111": "x"}]}, "sensitive_data_in_key"),
])
def test_sensitive_data_in_an_argument_name_is_refused(gate: Gate, extra: dict[str, Any], code: str) -> None:
    d = _mail(gate, **extra)
    assert d.decision == "BLOCK" and code in [r["code"] for r in d.reasons], (d.decision, d.reasons)
    assert KEY not in str(d.reasons) and "4111" not in str(d.reasons)


@pytest.mark.parametrize("extra", [
    {"meta": {"customer_reference": "C-1", "campaign_identifier": "spring"}},
    {"body": "Grüße aus München: Ihre Rechnung INV-1 liegt bei."},
    {"body": "請查收發票 INV-1。"},
])
def test_ordinary_names_and_text_pass(gate: Gate, extra: dict[str, Any]) -> None:
    d = _mail(gate, **extra)
    assert d.decision == "ALLOW", (d.decision, [r["code"] for r in d.reasons])
