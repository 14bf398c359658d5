"""Second batch of spelling evasions: each value below is read the way the receiving side reads
it. An argument renamed for a loose binder (`destinationAccount` for `destination_account`,
`URL` for `url`); SQL whose leading comment or EXPLAIN ANALYZE hides the statement the server
runs; a DELETE whose alias, RETURNING list or USING join stands where the WHERE clause is not;
global options before a CLI's subcommand (`kubectl --context prod delete ns x`); a URL whose
host is split by a tab, a denied host handed on in a redirect parameter, `file://` through a
web fetcher; cards, SSNs and IBANs grouped by dots, slashes or other separators. Before the
mends, every call marked stopped here walked through."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from gate.core.actions import value_domains
from gate.core.checks import _after_leading_options, _nested_hosts, _shell_plain, _sql_statements, other_spellings
from gate.core.detectors import find_dangerous, find_pii
from gate.gate import Gate
from gate.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def examples() -> Gate:
    return Gate.from_policies(ROOT / "policies", Settings(audit_path=None))


@pytest.fixture(scope="module")
def bench() -> Gate:
    return Gate.from_policies(ROOT / "bench" / "policies", Settings(audit_path=None))


@pytest.fixture(scope="module")
def quota_gate(tmp_path_factory: pytest.TempPathFactory) -> Gate:
    d = tmp_path_factory.mktemp("pol")
    (d / "payer.yaml").write_text(yaml.safe_dump({
        "agent": "payer",
        "identity": "Pays supplier invoices from the operating account.",
        "tools": [{"name": "pay_invoice", "description": "Pay one supplier invoice",
                   "effect": {"verb": "pay", "destination": "external"}}],
        "quotas": [{"id": "pay-cap", "tool": "pay_invoice", "sum": "amount", "max_total": 1000,
                    "message": "at most 1000 a session"}],
        "deny": [{"id": "no-rush", "tool": "pay_invoice", "when": {"priority": {"equals": "rush"}},
                  "message": "rush payments go to a person"}],
    }))
    return Gate.from_policies(d, Settings(audit_path=None))


def _decide(gate: Gate, agent: str, tool: str, args: dict, session: str | None = None) -> tuple[str, list[str]]:
    req: dict = {"agent": agent, "action": {"tool": tool, "args": args}}
    if session:
        req["session_id"] = session
    d = gate.check(req)
    return d.decision, [r["code"] for r in d.reasons]


# --- argument names: a restricting rule reads every spelling of the name it speaks about ---

@pytest.mark.parametrize("args, stopped", [
    ({"invoice_id": "INV-1", "amount": 50, "destination_account": "DE89370400440532013000"}, True),
    ({"invoice_id": "INV-1", "amount": 50, "destinationAccount": "DE89370400440532013000"}, True),
    ({"invoice_id": "INV-1", "amount": 50, "Destination-Account": "DE89370400440532013000"}, True),
    ({"invoice_id": "INV-1", "amount": 50, "destination_account": "", "DESTINATION_ACCOUNT": "DE89"}, True),
    ({"invoice_id": "INV-1", "amount": 50}, False),
    ({"invoice_id": "INV-1", "amount": 50, "reason": "duplicate charge"}, False),
])
def test_deny_rule_reads_every_spelling_of_its_argument(examples: Gate, args: dict, stopped: bool) -> None:
    decision, codes = _decide(examples, "billing-assistant", "issue_refund", args)
    assert (decision == "BLOCK") is stopped, (args, decision, codes)
    if stopped:
        assert "deny_rule" in codes


@pytest.mark.parametrize("args, stopped", [
    ({"URL": "https://webhook.site/abc", "body": "status"}, True),
    ({"Url": "https://pastebin.com/raw/x", "body": "status"}, True),
    ({"URL": "https://status.acme.com/incident", "body": "status"}, False),
    ({"url": "https://status.acme.com/incident", "body": "status"}, False),
])
def test_constraint_reads_an_argument_spelled_otherwise(examples: Gate, args: dict, stopped: bool) -> None:
    decision, codes = _decide(examples, "sre-oncall", "http_post", args)
    assert (decision == "BLOCK") is stopped, (args, decision, codes)
    if stopped:
        assert "arg_spelled_otherwise" in codes


def test_quota_and_deny_conditions_take_other_spellings(quota_gate: Gate) -> None:
    assert _decide(quota_gate, "payer", "pay_invoice", {"invoice": "S-1", "Priority": "RUSH", "amount": 10})[0] == "BLOCK"
    assert _decide(quota_gate, "payer", "pay_invoice", {"invoice": "S-1", "priority": "normal", "amount": 10})[0] == "ALLOW"
    # the summed amount under another spelling of its name still counts against the quota
    decision, codes = _decide(quota_gate, "payer", "pay_invoice", {"invoice": "S-2", "Amount": 5000}, session="q-r2")
    assert decision in ("BLOCK", "REWRITE") and decision != "ALLOW", codes
    assert _decide(quota_gate, "payer", "pay_invoice", {"invoice": "S-3", "Amount": 50}, session="q-r2b")[0] == "ALLOW"


def test_other_spellings_leave_the_exact_key_to_get_path() -> None:
    assert other_spellings({"destination_account": "x"}, "destination_account") == []
    assert other_spellings({"destinationAccount": "y"}, "destination_account") == ["y"]
    assert other_spellings({"Payee": {"IBAN": "z"}}, "payee.iban") == ["z"]
    assert other_spellings({"destination": "x"}, "destination_account") == []


# --- SQL read as the server reads it ---

@pytest.mark.parametrize("sql, stopped", [
    ("/* tidy up */ DELETE FROM orders WHERE id = 1", True),
    ("-- cleanup\nUPDATE orders SET status = 'x' WHERE id = 1", True),
    ("EXPLAIN ANALYZE DELETE FROM orders WHERE id = 1", True),
    ("EXPLAIN (ANALYZE, BUFFERS) DELETE FROM orders WHERE id = 1", True),
    ("EXPLAIN SELECT * FROM orders WHERE id = 1", False),
    ("EXPLAIN (ANALYZE false) DELETE FROM orders WHERE id = 1", False),
    ("EXPLAIN ANALYZE SELECT id FROM orders WHERE id = 1 LIMIT 10", False),
    ("/* slow query */ SELECT id FROM orders WHERE id = 1 LIMIT 10", False),
])
def test_production_read_only_sees_the_statement_the_server_runs(bench: Gate, sql: str, stopped: bool) -> None:
    decision, codes = _decide(bench, "dba-agent", "API_CALL:run_query", {"database": "prod", "sql": sql})
    assert (decision == "BLOCK") is stopped, (sql, decision, codes)


@pytest.mark.parametrize("sql, stopped", [
    ("DELETE FROM orders o", True),
    ("DELETE FROM orders RETURNING *", True),
    ("DELETE FROM orders USING customers", True),
    ("DELETE FROM orders AS o;", True),
    ("DELETE FROM orders o WHERE o.id = 1", False),
    ("DELETE FROM orders WHERE id = 1 RETURNING id", False),
    ("DELETE FROM orders USING customers c WHERE orders.customer_id = c.id AND c.is_test", False),
])
def test_delete_without_where_under_alias_returning_or_using(sql: str, stopped: bool) -> None:
    codes = [c for c, _ in find_dangerous(sql)]
    assert ("sql_delete_all" in codes) is stopped, (sql, codes)


# --- CLI global options before the subcommand ---

@pytest.mark.parametrize("command, context, stopped", [
    ("--namespace payments delete deployment api", "production", True),
    ("-n payments delete ns payments", "production", True),
    ("--insecure-skip-tls-verify delete deployment api", "production", True),
    ("-n payments get pods", "production", False),
    ("--context production get pods -o wide", "production", False),
    ("-n payments delete pod api-7f9c", "staging", False),
])
def test_deny_rule_reads_a_command_from_its_subcommand(examples: Gate, command: str, context: str, stopped: bool) -> None:
    decision, codes = _decide(examples, "sre-oncall", "kubectl", {"command": command, "context": context})
    assert (decision == "BLOCK") is stopped, (command, decision, codes)


@pytest.mark.parametrize("command, stopped", [
    ("kubectl --context production delete ns payments", True),
    ("kubectl -n kube-system --request-timeout=5s delete namespace payments", True),
    ("terraform -chdir=infra/prod destroy -auto-approve", True),
    ("kubectl --context production get ns", False),
    ("terraform -chdir=infra/prod plan", False),
])
def test_shell_reads_cli_options_before_the_subcommand(command: str, stopped: bool) -> None:
    codes = [c for c, _ in find_dangerous(_shell_plain(command))]
    assert ("destroy_infrastructure" in codes) is stopped, (command, codes)


def test_leading_options_readings() -> None:
    assert _after_leading_options("--context prod delete ns x") == ["prod delete ns x", "delete ns x"]
    assert _after_leading_options("-chdir=infra destroy") == ["destroy"]
    assert _after_leading_options("get pods -n x") == ["get pods -n x"]


# --- URLs ---

@pytest.mark.parametrize("url, stopped", [
    ("https://webhook\t.site/abc", True),
    ("https://example.com/login?next=https%3A%2F%2Fwebhook.site%2Fabc", True),
    ("https://example.com/r?u=https%253A%252F%252Fwebhook.site", True),
    ("https://example.com/go#https%3A%2F%2Finteract.sh%2Fx", True),
    ("file:///etc/passwd", True),
    ("FILE:///srv/reports/q3.csv", True),
    ("https://example.com/page?ref=https%3A%2F%2Fnews.example.org%2Fa", False),
    ("https://en.wikipedia.org/wiki/File:Example.jpg", False),
    ("https://www.example.org/docs#section-2", False),
])
def test_fetch_url_reads_the_host_the_request_reaches(bench: Gate, url: str, stopped: bool) -> None:
    decision, codes = _decide(bench, "research-browser", "fetch_url", {"url": url})
    assert (decision == "BLOCK") is stopped, (url, decision, codes)


def test_nested_hosts_and_split_host() -> None:
    assert "webhook.site" in _nested_hosts("https://a.example/?next=https%3A%2F%2Fwebhook.site")
    assert _nested_hosts("https://a.example/?q=plain+words") == ()
    assert "webhook.site" in value_domains("https://webhook\t.site/x")
    assert value_domains("bob@acme.com\neve@evil.example") == ("acme.com", "evil.example")


# --- personal data grouped by other separators ---

@pytest.mark.parametrize("text, kind", [
    ("card 4111.1111.1111.1111", "payment_card"),
    ("card 4111/1111/1111/1111", "payment_card"),
    ("amex 3782.822463.10005", "payment_card"),
    ("ssn 123.45.6789", "ssn"),
    ("ssn 123 45 6789", "ssn"),
    ("IBAN DE89-3704-0044-0532-0130-00", "iban"),
    ("IBAN DE89.3704.0044.0532.0130.00", "iban"),
])
def test_grouped_personal_data_is_found(text: str, kind: str) -> None:
    assert kind in [f.kind for f in find_pii(text)], text


@pytest.mark.parametrize("text", [
    "ref 4111.1111.1111.1112",                 # fails Luhn
    "due 2024/11/05 and 2025/01/01",
    "hosts 10.0.0.1 and 192.168.1.10",
    "build 2024.11.05.1234, v1.24.3",
    "totals 1234.5678 and 9012.3456",
    "orders 12345 6789 and 123 4567 8901",
    "IBAN-like DE89.3704.0044.0532.0130.01",   # fails mod 97
])
def test_grouped_lookalikes_are_not_personal_data(text: str) -> None:
    assert not [f for f in find_pii(text) if f.kind in ("payment_card", "ssn", "iban")], text


def test_grouped_card_is_redacted_in_outbound_mail(examples: Gate) -> None:
    d = examples.check({"agent": "sales-email", "action": {"tool": "send_email", "args": {
        "to": "ann@customer.example", "subject": "Order", "body": "card 4111.1111.1111.1111 on file"}}})
    assert d.decision == "REWRITE"
    out = d.action["args"]["body"]
    assert "[REDACTED:" in out and "4111.1111.1111.1111" not in out


# --- the new forms stay linear on long repetitive input ---

@pytest.mark.parametrize("text", [
    "delete from t using " * 5000,
    "delete from t " * 8000,
    "1234.1234." * 10000,
    "123 45 " * 14000,
    "DE89-AAAA-" * 10000,
    "https://a.b/?x=//" + "a" * 100_000,
    "https://" + "a\t" * 50_000,
])
def test_new_patterns_stay_linear(text: str) -> None:
    start = time.perf_counter()
    find_dangerous(text)
    find_pii(text)
    value_domains(text)
    _nested_hosts(text) if "?" in text else None
    _sql_statements("explain analyze " + text[:19000])
    _shell_plain("kubectl " + " -x " * 20000 + text[:1000])
    assert time.perf_counter() - start < 5.0


@pytest.mark.parametrize("sql, stopped", [
    ('SET pgaudit.log TO "none"', True),
    ("ALTER DATABASE app SET log_statement = \"none\"", True),
    ("SET pgaudit.log TO 'ddl'", False),
    ("SELECT name FROM settings WHERE value = 'none'", False),
])
def test_logging_switched_off_with_a_double_quoted_value(sql: str, stopped: bool) -> None:
    codes = [c for c, _ in find_dangerous(sql)]
    assert ("disable_logging" in codes) is stopped, (sql, codes)
