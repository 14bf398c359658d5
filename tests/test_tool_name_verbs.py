"""A tool-name word that names a thing as often as an act (email, payment, roles, config) is read
as the thing when every other verb word of the name reads: `read_email` reads mail, it sends
nothing. Names that act on the thing keep its class."""

from __future__ import annotations

import pytest

from gate.core.actions import extract_features


@pytest.mark.parametrize("tool,verb", [
    ("read_email", "read"), ("get_payment", "read"), ("list_roles", "read"), ("get_config", "read"),
    ("view_message", "read"), ("search_invite", "read"), ("fetch_webhook", "read"), ("get_refund", "read"),
    ("list_permissions", "read"), ("describe_iam_policy", "read"), ("get_schedule", "read"),
])
def test_a_read_of_a_thing_named_like_an_act_is_a_read(tool: str, verb: str) -> None:
    f = extract_features(tool, {"id": "X-1"})
    assert f.verb == verb and f.verbs == frozenset({verb}), (tool, f.verbs)


@pytest.mark.parametrize("tool,verb", [
    ("send_email", "send"), ("email_customer", "send"), ("make_payment", "pay"), ("issue_refund", "pay"),
    ("add_roles", "grant"), ("assign_role", "grant"), ("update_config", "configure"), ("post_message", "send"),
    ("run_script", "execute"), ("payment", "pay"), ("purge_log", "delete"), ("log_event", "write"),
    # a read word beside another act keeps the act: the name does more than read
    ("get_and_send_email", "send"),
])
def test_names_that_act_on_the_thing_keep_its_class(tool: str, verb: str) -> None:
    assert extract_features(tool, {"id": "X-1"}).verb == verb, tool
