"""The HTTP service's edges: /docs offline, the documented 200 bodies, who may reload."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from swagger_ui_bundle import swagger_ui_path

from gate import Gate
from gate.cli import _settings, build_parser
from gate.server import create_app
from gate.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
REFUND = {"agent": "billing-assistant", "session": "h-1", "task": "Refund invoice INV-1009, it was charged twice",
          "action": {"tool": "issue_refund", "args": {"invoice_id": "INV-1009", "amount": 40}}}
CONTRACT_FIELDS = {"decision", "action", "reasons", "decision_id", "policy_revision"}


@pytest.fixture(scope="module")
def loaded() -> Gate:
    """Policies compiled once for the module; tests build their own `Gate` around the bundle."""
    return Gate.from_policies(ROOT / "policies", Settings(audit_path=None))


def make_gate(loaded: Gate, **settings: Any) -> Gate:
    return Gate(loaded.bundle, settings=replace(loaded.settings, **settings), encoder=loaded.encoder)


def client_for(gate: Gate, host: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(gate), client=(host, 1234))
    return httpx.AsyncClient(transport=transport, base_url="http://gate")


# -- /docs without a network ----------------------------------------------------------------

async def test_docs_page_loads_only_local_assets(loaded: Gate) -> None:
    async with client_for(make_gate(loaded)) as c:
        page = await c.get("/docs")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        urls = re.findall(r'(?:src|href)="([^"]*)"', page.text)
        assert len(urls) == 3 and not re.search(r"https?://|//cdn", page.text), urls
        assets = {u.rsplit(".", 1)[-1]: await c.get(u) for u in urls}
        for ext, kind in (("js", "javascript"), ("css", "css"), ("png", "image/png")):
            assert assets[ext].status_code == 200 and kind in assets[ext].headers["content-type"], ext
        assert len(assets["js"].content) > 100_000 and b"SwaggerUIBundle" in assets["js"].content
        assert len(assets["css"].content) > 10_000
        assert "url: '/openapi.json'" in page.text and (await c.get("/openapi.json")).status_code == 200
        assert (await c.get("/docs/oauth2-redirect")).status_code == 200
        missing = await c.get("/docs/assets/nope.js")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        # ReDoc would load from a CDN and has no local copy: it is off
        assert (await c.get("/redoc")).json()["error"]["code"] == "not_found"


async def test_bundled_swagger_ui_renders_the_openapi_version_gate_writes(loaded: Gate) -> None:
    # Swagger UI 4 (swagger-ui-bundle 1.1.0) renders only `openapi: 3.0.n`; FastAPI writes 3.1.
    async with client_for(make_gate(loaded)) as c:
        spec = (await c.get("/openapi.json")).json()
    major = int(swagger_ui_path.name.rsplit("-", 1)[-1].split(".")[0])
    assert spec["openapi"].startswith("3.1.") and major >= 5, (spec["openapi"], swagger_ui_path.name)


# -- documented 200 bodies --------------------------------------------------------------------

def _schema(spec: dict[str, Any], path: str, status: str) -> dict[str, Any]:
    schema = spec["paths"][path]["post"]["responses"][status]["content"]["application/json"]["schema"]
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


async def test_openapi_describes_the_check_and_observe_bodies_they_send(loaded: Gate) -> None:
    async with client_for(make_gate(loaded)) as c, client_for(make_gate(loaded, mode="dry-run")) as dry:
        spec = (await c.get("/openapi.json")).json()
        check, observe = _schema(spec, "/v1/check", "200"), _schema(spec, "/v1/observe", "200")
        error = _schema(spec, "/v1/check", "4XX")
        assert CONTRACT_FIELDS <= set(check["required"])
        assert {"session", "steps", "risk_level", "tainted_destinations", "policy_revision"} <= set(observe["required"])
        rewrite = {**REFUND, "action": {"tool": "issue_refund", "args": {"invoice_id": "INV-1009", "amount": 400}}}
        block = {"agent": "billing-assistant", "action": {"tool": "delete_customer", "args": {"id": "CUS-1"}}}
        bodies = [(await c.post("/v1/check", json=REFUND)).json(),
                  (await c.post("/v1/check?trail=1", json=rewrite)).json(),
                  (await c.post("/v1/check", json=block)).json(),
                  (await dry.post("/v1/check", json=block)).json()]
        observed = await c.post("/v1/observe", json={**REFUND, "result": {"ok": True}, "decision_id": bodies[0]["decision_id"]})
        refused = await c.post("/v1/check", content=b"{nope")
    assert [b["decision"] for b in bodies] == ["ALLOW", "REWRITE", "BLOCK", "ALLOW"]
    assert "risk" in bodies[0] and "trail" in bodies[1] and any("patches" in r for r in bodies[1]["reasons"]) and "dry_run" in bodies[3]
    for body in bodies:
        jsonschema.validate(body, check, cls=jsonschema.Draft202012Validator)
    jsonschema.validate(observed.json(), observe, cls=jsonschema.Draft202012Validator)
    jsonschema.validate(refused.json(), error, cls=jsonschema.Draft202012Validator)
    # and the schema is not vacuous
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**bodies[0], "decision": "MAYBE"}, check, cls=jsonschema.Draft202012Validator)


# -- who may reload ---------------------------------------------------------------------------

@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1", "testclient"])
async def test_without_a_token_loopback_clients_reload(loaded: Gate, host: str) -> None:
    async with client_for(make_gate(loaded), host) as c:
        r = await c.post("/v1/reload")
    assert r.status_code == 200 and r.json()["reloaded"] is True


@pytest.mark.parametrize("host", ["10.0.0.5", "192.168.1.7", "2001:db8::1", "::ffff:10.0.0.5", "localhost.evil.example"])
async def test_without_a_token_other_clients_may_not_reload(loaded: Gate, host: str) -> None:
    gate = make_gate(loaded)
    async with client_for(gate, host) as c:
        r = await c.post("/v1/reload")
        assert (await c.post("/v1/check", json=REFUND)).status_code == 200   # only reload is guarded
    assert r.status_code == 403
    err = r.json()["error"]
    assert err["code"] == "forbidden" and "GATE_RELOAD_TOKEN" in err["message"]


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Bearer s3cret-token-x", "Basic s3cret-token", "s3cret-token",
                                    "Bearer", "Bearer s3cr\u00e9t"])
async def test_with_a_token_reload_needs_the_bearer_header(loaded: Gate, header: str | None) -> None:
    headers = {} if header is None else {"authorization": header.encode("latin-1")}
    async with client_for(make_gate(loaded, reload_token="s3cret-token")) as c:   # loopback, but the token rules
        r = await c.post("/v1/reload", headers=headers)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("host", ["127.0.0.1", "10.0.0.5"])
async def test_with_a_token_the_right_header_reloads_from_anywhere(loaded: Gate, host: str) -> None:
    async with client_for(make_gate(loaded, reload_token="s3cret-token"), host) as c:
        r = await c.post("/v1/reload", headers={"Authorization": "bearer  s3cret-token"})
    assert r.status_code == 200 and r.json()["reloaded"] is True


def test_reload_token_comes_from_env_and_flags() -> None:
    s = Settings.from_env({"GATE_RELOAD_TOKEN": "from-env"})
    assert s.reload_token == "from-env" and "from-env" not in repr(s)
    assert Settings.from_env({"GATE_RELOAD_TOKEN": ""}).reload_token is None
    assert Settings().reload_token is None
    args = build_parser().parse_args(["serve", "--policies", "policies", "--reload-token", "from-flag"])
    assert _settings(args).reload_token == "from-flag"

