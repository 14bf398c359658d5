"""The pure decision core: no I/O, no clock, no environment.

Given a compiled policy bundle, a session snapshot and a request, `decide` returns a
`Decision` and the session update. The service, proxy and MCP gateway all call it.
"""
