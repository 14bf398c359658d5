"""A ___domain deny list refuses the other names of the same mailboxes: `googlemail.com` delivers
to the `gmail.com` mailbox of the same name (bench/evasions.py's `to gmail sub`). Allowlists are
not widened, and unrelated domains are untouched."""

from __future__ import annotations

from pathlib import Path

import pytest

from gate.core.checks import _deny_set
from gate.gate import Gate
from gate.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def examples() -> Gate:
    return Gate.from_policies(ROOT / "policies", Settings(audit_path=None))


def _send(g: Gate, to: str):
    return g.check({"agent": "sales-email", "action": {"tool": "send_email", "args": {"to": to, "subject": "Hi", "body": "hello"}}})


@pytest.mark.parametrize("to", ["bob@googlemail.com", "Bob@GoogleMail.com", "bob@googlemail.com."])
def test_an_alias_of_a_denied_mailbox_domain_is_refused(examples: Gate, to: str) -> None:
    d = _send(examples, to)
    assert d.decision in ("BLOCK", "REWRITE"), (to, d.decision, d.reasons)
    assert any(r["code"] == "domain_not_allowed" for r in d.reasons), d.reasons


@pytest.mark.parametrize("to", ["ann@customer.example", "ann@mail.google-partner.example", "ann@gmailpartners.example"])
def test_other_domains_still_pass(examples: Gate, to: str) -> None:
    d = _send(examples, to)
    assert not any(r["code"] == "domain_not_allowed" for r in d.reasons), (to, d.reasons)


def test_the_alias_groups() -> None:
    assert {"gmail.com", "googlemail.com"} <= _deny_set(("GMAIL.com",))
    assert {"me.com", "mac.com"} <= _deny_set(("icloud.com", "competitor.com"))
    assert _deny_set(("competitor.com", "yahoo.com")) == frozenset({"competitor.com", "yahoo.com"})
