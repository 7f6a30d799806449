"""A small MCP server (stdio) on the Python SDK: reads files it is asked for,
and tells where it runs. The sandbox, not the server, decides what it reaches."""

from __future__ import annotations

import os

from mcp.server.mcpserver import MCPServer

server = MCPServer("rr-test-files")


@server.tool()
def read_text(path: str) -> str:
    """Returns the text of the file at `path`."""
    with open(path, encoding="utf-8") as f:
        return f.read()


@server.tool()
def where() -> str:
    """The server's working folder and pid."""
    return f"{os.getcwd()} {os.getpid()}"


if __name__ == "__main__":
    server.run("stdio")
