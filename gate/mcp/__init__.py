"""The mcp sidecar mode (see cli.py)."""
