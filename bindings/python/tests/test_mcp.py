"""The MCP SDK's ClientSession over our stdio_client, against the real
reference filesystem server (npm) and a Python MCP server, sandboxed by
landrun and by firejail: list tools, read an allowed file, fail to read a
file outside the policy (which the server itself would serve), and leave
nothing behind."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Tuple

import anyio
import pytest
from conftest import NODE_DIR, firejail_options, landrun_options, make_runner, still_running, wait_for_pids

pytest.importorskip("mcp")

from mcp import ClientSession, StdioServerParameters

import restricted_runner as rr
from restricted_runner.mcp import stdio_client

SERVERS = Path(__file__).resolve().parent / "servers"
FS_SERVER = NODE_DIR / "node_modules" / "@modelcontextprotocol" / "server-filesystem" / "dist" / "index.js"


def server_params(which: str, base: Path) -> Tuple[StdioServerParameters, str, List[str]]:
    """The server, its file-reading tool, and the folders it runs from.

    Both are told they may serve all of `base`; the sandbox allows only
    `base/allowed`. `base` (unique) is also on the command line, to find
    the server's processes from the host."""
    if which == "node":
        if not FS_SERVER.is_file():
            if os.environ.get("RR_REQUIRE_ALL_RUNNERS") == "1":
                pytest.fail(f"{FS_SERVER} is missing: run tests/support/setup-python.sh")
            pytest.skip(f"{FS_SERVER} is missing: run tests/support/setup-python.sh")
        node = shutil.which("node")
        assert node is not None
        return StdioServerParameters(command=node, args=[str(FS_SERVER), str(base)]), "read_text_file", [str(NODE_DIR)]
    script = SERVERS / "file_server.py"
    # The venv's own python (not the file it links to), with no ".." in it.
    python = os.path.abspath(sys.executable)
    params = StdioServerParameters(command=python, args=[str(script), str(base)], env={"PYTHONSAFEPATH": "1"})
    return params, "read_text", [str(SERVERS)]


def runner_for(kind: str, allowed: Path, code_dirs: List[str]) -> rr.Runner:
    if kind == "exec":
        return make_runner("exec", {})
    if kind == "landrun":
        return make_runner("landrun", landrun_options(read=[str(allowed), *code_dirs]))
    return make_runner("firejail", firejail_options(read=[str(allowed), *code_dirs]))


def is_error(result: Any) -> bool:
    # mcp 2 names it is_error, mcp 1 isError.
    return bool(getattr(result, "is_error", getattr(result, "isError", False)))


def text_of(result: Any) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


def leaves(e: BaseException) -> List[BaseException]:
    """The exceptions inside (nested) exception groups."""
    inner = getattr(e, "exceptions", None)
    if inner is None:
        return [e]
    return [leaf for sub in inner for leaf in leaves(sub)]


def profile_files() -> List[str]:
    return sorted(n for n in os.listdir(tempfile.gettempdir()) if n.startswith("rr-firejail-"))


@pytest.mark.parametrize("which", ["node", "python"])
@pytest.mark.parametrize("kind", ["landrun", "firejail", "exec"])
def test_client_session_over_the_sandboxed_server(kind: str, which: str, host_dir: Path) -> None:
    allowed = host_dir / "allowed"
    secret_dir = host_dir / "secret"
    allowed.mkdir()
    secret_dir.mkdir()
    (allowed / "hello.txt").write_text("hello from the allowed folder\n")
    (secret_dir / "secret.txt").write_text("s3cret-token\n")
    params, read_tool, code_dirs = server_params(which, host_dir)
    runner = runner_for(kind, allowed, code_dirs)
    profiles_before = profile_files()
    seen: Dict[str, Any] = {}

    async def main() -> None:
        async with stdio_client(params, runner) as (read, write):
            seen["running"] = await anyio.to_thread.run_sync(wait_for_pids, str(host_dir))
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = await session.list_tools()
                seen["tools"] = [t.name for t in tools.tools]
                ok = await session.call_tool(read_tool, {"path": str(allowed / "hello.txt")})
                seen["allowed"] = (is_error(ok), text_of(ok))
                denied = await session.call_tool(read_tool, {"path": str(secret_dir / "secret.txt")})
                seen["secret"] = (is_error(denied), text_of(denied))

    anyio.run(main, backend="asyncio")
    assert read_tool in seen["tools"]
    assert seen["allowed"] == (False, "hello from the allowed folder\n")
    failed, text = seen["secret"]
    if kind == "exec":
        # The control: unconfined, the server serves the secret, so the
        # sandboxes are what denies it.
        assert (failed, text) == (False, "s3cret-token\n")
    else:
        assert failed, text
        assert "s3cret" not in text
    assert seen["running"], "the server's processes were not found on the host"
    # Gone once the client is (allowing the kernel a moment to finish a kill).
    assert not still_running(str(host_dir)), "the server outlived the client"
    assert profile_files() == profiles_before


def test_a_server_that_cannot_start_is_an_error(host_dir: Path) -> None:
    runner = make_runner("landrun", landrun_options())

    async def main() -> None:
        with pytest.raises(FileNotFoundError):
            async with stdio_client(StdioServerParameters(command="rr-no-such-server"), runner):
                pass
        # A server the policy cannot run (its script is not readable): the
        # session sees the connection close, as with the SDK's own client.
        try:
            async with stdio_client(
                StdioServerParameters(command=sys.executable, args=[str(SERVERS / "file_server.py")]), runner
            ) as (read, write):
                async with ClientSession(read, write) as session:
                    with anyio.fail_after(30):
                        await session.initialize()
        except Exception as e:
            assert any("Connection closed" in str(leaf) for leaf in leaves(e)), e
        else:
            pytest.fail("the session started")

    anyio.run(main, backend="asyncio")
