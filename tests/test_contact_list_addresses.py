"""The personal-data detector's contact-list pattern reads addresses with non-ASCII letters in
the local part (RFC 6531), as the destination reader (`actions.EMAIL_RX`) does since round 18a:
a list of `zoë@…`, `jürgen.müller@…` addresses is a contact list like any other."""

from __future__ import annotations

from pathlib import Path

from gate.core.detectors import find_contact_list
from gate.gate import Gate
from gate.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_accented_local_parts_count_as_addresses() -> None:
    text = "attendees: zoë@mailinator.com, jürgen.müller@example.org, ana.sánchez@example.net"
    spans = [text[f.start:f.end] for f in find_contact_list(text)]
    assert spans == ["zoë@mailinator.com", "jürgen.müller@example.org", "ana.sánchez@example.net"], spans


def test_one_address_or_prose_is_not_a_list() -> None:
    assert find_contact_list("write to zoë@example.org about the invoice") == []
    assert find_contact_list("café @ noon, thé @ four") == []
    # the caller's exclusion still applies (the call's own recipients, colleagues)
    text = "zoë@acme.com and jürgen@acme.com"
    assert find_contact_list(text, exclude=lambda a: a.endswith("@acme.com")) == []


def test_an_accented_contact_list_sent_outside_is_redacted() -> None:
    g = Gate.from_policies(ROOT / "policies", Settings(audit_path=None))
    body = "Our attendee list: zoë.weiß@clientco.de, jürgen.müller@clientco.de, ana.sánchez@clientco.es"
    d = g.check({"agent": "sales-email", "action": {"tool": "send_email", "args": {
        "to": "ann@customer.example", "subject": "List", "body": body}}})
    assert d.decision in ("REWRITE", "BLOCK"), (d.decision, d.reasons)
    if d.decision == "REWRITE":
        assert "jürgen.müller@clientco.de" not in d.action["args"]["body"]
