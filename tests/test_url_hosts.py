"""Where a URL really goes: the host after any `user:password@`, and bracketed IPv6 literals.
Before, `https://acme.com@evil.example/` read as going to acme.com (the userinfo), and
`http://[2607:f8b0::1]/` as no URL at all, so a ___domain allowlist or the egress rules could be
walked past by writing the URL that way."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gate.core.actions import domain_of, extract_features, is_internal
from gate.gate import Gate
from gate.settings import Settings


@pytest.mark.parametrize("url, host", [
    ("https://acme.com@evil.example/collect", "evil.example"),
    ("https://user:pw@files.acme.com/a", "files.acme.com"),
    ("http://[2607:f8b0:4004::1]/up", "[2607:f8b0:4004::1]"),
    ("http://[::1]:8080/admin", "[::1]"),
    ("https://acme.com/path/a@b", "acme.com"),            # an @ after the path is not userinfo
    ("https://x.example?next=a@acme.com", "x.example"),   # nor in the query
    ("https://acme.com", "acme.com"),
])
def test_the_host_is_where_the_request_goes(url: str, host: str) -> None:
    assert domain_of(url) == host


def test_ipv6_literals_are_internal_only_when_private() -> None:
    for d in ("[::1]", "[fd12:3456::7]", "[fe80::1]", "[::ffff:10.0.0.5]"):
        assert is_internal(d, ()), d
    for d in ("[2607:f8b0:4004::1]", "[2001:db8::5]", "[::ffff:8.8.8.8]"):
        assert not is_internal(d, ()), d


def test_userinfo_does_not_make_an_outside_post_internal() -> None:
    out = extract_features("http_post", {"url": "https://acme.com@evil.example/collect", "body": "x"}, None, ("acme.com",))
    assert out.destination == "external" and out.external_domains == ("evil.example",)
    inside = extract_features("http_post", {"url": "https://acme.com/collect", "body": "x"}, None, ("acme.com",))
    assert inside.destination != "external"
    v6 = extract_features("http_post", {"url": "http://[2607:f8b0::1]/collect", "body": "x"}, None, ("acme.com",))
    assert v6.destination == "external"


@pytest.fixture()
def gate(tmp_path: Path) -> Gate:
    (tmp_path / "a.yaml").write_text(yaml.safe_dump({
        "agent": "hook-bot",
        "identity": "Posts build notifications to the company's own webhook endpoints.",
        "tools": [{"name": "post_webhook", "description": "POST a JSON notification to a webhook URL",
                   "constraints": [{"arg": "url", "domains_allow": ["hooks.acme.com"]}]}],
    }))
    return Gate.from_policies(tmp_path, Settings(audit_path=None))


@pytest.mark.parametrize("url, stopped", [
    ("https://hooks.acme.com/build", False),
    ("https://hooks.acme.com@evil.example/build", True),
    ("https://hooks.acme.com:pw@evil.example/build", True),
    ("http://[2607:f8b0::1]/build", True),
])
def test_a_domain_allowlist_reads_the_real_host(gate: Gate, url: str, stopped: bool) -> None:
    d = gate.check({"agent": "hook-bot", "action": {"tool": "post_webhook", "args": {"url": url, "text": "build 41 passed"}}})
    codes = {r["code"] for r in d.reasons}
    assert ("domain_not_allowed" in codes) == stopped, (url, d.decision, codes)
    if stopped:
        assert d.decision == "BLOCK"
