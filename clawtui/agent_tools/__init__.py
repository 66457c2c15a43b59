"""The MCP front end: clawtui's engine as Model Context Protocol tools and resources.

    guard.py     who is calling (scoped token), the scope check, the audit entry, tool errors
    outputs.py   the typed results tools answer with (beside the interface's own models)
    server.py    `build_server(engine, caller)`: the tools and resources over the interface

Named `agent_tools`, not `mcp`, so it can never shadow the SDK's `mcp` package. Imports only
`clawtui.engine.api` and `clawtui.config`, like the other front ends; the entry point
(`clawtui mcp`, cli/mcp.py) builds the engine (local, or the remote client for --connect).
"""
