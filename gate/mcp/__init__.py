"""The MCP gateway sidecar mode: `gate mcp stdio|http` (see docs/sidecars.md).

`Gateway(gate, agent=..., upstream=stdio_upstream([...]))` builds the gateway's MCP server;
`ToolGuard` pins tool definitions and flags poisoned descriptions.
"""

from gate.mcp.gateway import Gateway, http_upstream, stdio_upstream
from gate.mcp.guard import ToolGuard, scan_definition

__all__ = ["Gateway", "ToolGuard", "http_upstream", "scan_definition", "stdio_upstream"]
