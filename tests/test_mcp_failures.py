"""The MCP gateway reports an allowed call whose upstream failed to the session, so it does not
stay pending, and says whether the tool may have run; the client still gets the error."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import mcp.types as types
import pytest
from mcp.shared.exceptions import MCPError

from gate import Gate
from gate.mcp.gateway import Gateway
from gate.settings import Settings

POLICY = """
agent: payer
identity: Accounts payable assistant. Pays approved vendor invoices.
tools:
  - name: pay_invoice
    constraints:
      - {arg: amount, max: 1000}
"""


class FailingUpstream:
    """An upstream whose `tools/call` fails the way a real client session does."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def list_tools(self, *a: Any, **k: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[types.Tool(name="pay_invoice", description="Pay a vendor invoice",
                                                       inputSchema={"type": "object"})])

    async def call_tool(self, name: str, args: dict[str, Any]) -> types.CallToolResult:
        self.calls.append((name, args))
        raise self.exc


def _call(gate: Gate, upstream: FailingUpstream, session: str) -> None:
    gw = Gateway(gate, agent="payer", upstream=lambda: None, session=session)
    ctx = SimpleNamespace(lifespan_context=SimpleNamespace(upstream=upstream, session=session), request=None)
    params = types.CallToolRequestParams(name="pay_invoice", arguments={"invoice_id": "INV-7", "amount": 120})
    anyio.run(gw._call_tool, ctx, params)


@pytest.mark.parametrize("exc, expected_error, unknown", [
    (MCPError(code=types.INVALID_PARAMS, message="bad arguments"), "upstream_rejected", False),
    (anyio.ClosedResourceError(), "upstream_failed", True),
    (TimeoutError(), "upstream_failed", True),
])
def test_a_failed_upstream_call_is_reported_and_the_error_kept(tmp_path: Path, exc: BaseException,
                                                               expected_error: str, unknown: bool) -> None:
    (tmp_path / "payer.yaml").write_text(POLICY)
    log = tmp_path / "audit.jsonl"
    gate = Gate.from_policies(tmp_path, Settings(audit_path=log))
    upstream = FailingUpstream(exc)
    with pytest.raises(type(exc)):
        _call(gate, upstream, "s1")
    assert upstream.calls == [("pay_invoice", {"invoice_id": "INV-7", "amount": 120})]
    view = gate.session("payer", "s1")
    assert view["pending_observations"] == 0 and view["steps"] == 1
    gate.audit.close()
    import orjson
    recs = [orjson.loads(line) for line in log.read_bytes().splitlines()]
    obs = [r for r in recs if r.get("source") == "observe"]
    assert len(obs) == 1 and obs[0]["counted"] == "matched" and obs[0]["via"] == "mcp"
    assert obs[0]["error_code"] == expected_error and obs[0]["result_error"] is True
    # a retry of the same payment: fine when the upstream refused it, a possible duplicate when
    # the answer was lost after the request left
    retry = gate.check({"agent": "payer", "session": "s1",
                        "action": {"tool": "pay_invoice", "args": {"invoice_id": "INV-7", "amount": 120}}})
    assert (retry.decision == "BLOCK") is unknown, [r["code"] for r in retry.reasons]
    if unknown:
        assert "duplicate_payment" in {r["code"] for r in retry.reasons}
