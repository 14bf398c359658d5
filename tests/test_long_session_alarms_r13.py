"""Causes of false blocks in long benign sessions, found by running 30 fresh benign sessions
(bench/traces/extra_round13_benign.yaml, dev) before any change, and mended in general form. Each
test allows the benign pattern and keeps the violation the rule exists for."""

from __future__ import annotations

import pytest

from gate import Gate
from replay import check_after, codes, gate_from_yaml

# --- a credential named by another name in the code, or by its resource name, is not held


@pytest.mark.parametrize("text", [
    "import stripe\nfrom app.config.settings import Settings\nstripe.api_key = Settings.stripe_key\n",
    "client = Client(api_key=settings.openai_api_key)",
    "password = self.db_password",
    "token: config.auth.token_value",
    "SECRET_KEY = django_settings.base.key2()",
    '{"Name": "prod/checkout/db", "ARN": "arn:aws:secretsmanager:eu-west-1:412233445566:secret:prod/checkout/db-AbC12", '
    '"RotationEnabled": true, "VersionIdsToStages": {"a1b2": ["AWSCURRENT"]}}',
    "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:payments/stripe-x9Y8z7",
])
def test_a_secret_named_by_a_code_name_or_a_resource_name_is_no_secret(text: str) -> None:
    from gate.core.session import result_provenance
    prov = result_provenance({"content": text})
    assert not prov.secrets and prov.exposure < 3


@pytest.mark.parametrize("text", [
    "stripe.api_key = 'sk_live_51NfQx2Lk8vR3mT0pW9yZ'",                   # a quoted literal
    "password = Pr0d.Passw0rd.2024",                                      # digits in its segments
    "token = eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",           # a JWT split on dots
    "secret: aB3dE6.fG9hI2.kL5mN8pQ",
    '{"ARN": "arn:aws:secretsmanager:eu-west-1:412233445566:secret:prod/db-AbC12", "SecretString": "password=Zq8vL2m9xRt4Wp"}',
    "secret: prod/checkout/db-AbC12-x9Y8z7Q",                             # not inside an ARN
])
def test_a_literal_beside_a_name_or_a_resource_name_is_still_a_secret(text: str) -> None:
    from gate.core.session import result_provenance
    prov = result_provenance({"content": text})
    assert prov.secrets and prov.exposure >= 3
