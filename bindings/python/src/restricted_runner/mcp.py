"""A sandboxed stdio transport for the MCP Python SDK.

`stdio_client(server, runner)` takes the SDK's own `StdioServerParameters`
and yields the same `(read_stream, write_stream)` pair as
`mcp.client.stdio.stdio_client`, so `mcp.ClientSession` works unchanged;
the server runs under `runner`. On exit the server's stdin is closed, it
gets a grace period, then its whole tree is killed, and the wait removes
everything the runner created (profile files, containers).

Needs the `mcp` extra: `pip install 'restricted-runner[mcp]'`.
"""

from __future__ import annotations

import codecs
import logging
import signal
import sys
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, TextIO, Tuple, Union, cast

try:
    import anyio
    import mcp.types as mcp_types
    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
    from mcp.client.stdio import StdioServerParameters
    from mcp.shared.message import SessionMessage
except ImportError as e:  # pragma: no cover - depends on the install
    raise ImportError(
        f"restricted_runner.mcp needs the MCP SDK ({e}): pip install 'restricted-runner[mcp]' (Python 3.10+)"
    ) from e

from ._asyncio import Process
from ._popen import PIPE
from ._runner import Runner

__all__ = ["StdioServerParameters", "stdio_client"]

logger = logging.getLogger(__name__)

# As the SDK's stdio_client: grace after stdin closes, then after SIGTERM.
PROCESS_TERMINATION_TIMEOUT = 2.0
FORCE_KILL_TIMEOUT = 2.0

ReadStream = MemoryObjectReceiveStream[Union[SessionMessage, Exception]]
WriteStream = MemoryObjectSendStream[SessionMessage]


def _parse(line: str) -> Union[SessionMessage, Exception]:
    try:
        adapter: Any = getattr(mcp_types, "jsonrpc_message_adapter", None)
        if adapter is not None:
            message = adapter.validate_json(line, by_name=False)
        else:
            # mcp 1.x: a root model.
            message = cast(Any, mcp_types).JSONRPCMessage.model_validate_json(line)
    except ValueError as exc:
        logger.exception("Failed to parse JSONRPC message from server")
        return exc
    return SessionMessage(message)


def _dump(message: SessionMessage) -> str:
    json: str = message.message.model_dump_json(by_alias=True, exclude_unset=True)
    return json


@asynccontextmanager
async def stdio_client(
    server: StdioServerParameters, runner: Runner, errlog: TextIO = sys.stderr
) -> AsyncIterator[Tuple[ReadStream, WriteStream]]:
    """Starts the MCP server `server` under `runner` and connects to it over
    its stdin and stdout, as the SDK's `stdio_client` does; its stderr goes
    to `errlog` (a file, or any text stream).

    `server.env` is added on top of the environment the runner gives the
    command: the caller's whole environment unless the runner was built
    with `"inherit_env": False`, then only what its `pass_env` names
    (`docker` passes only `pass_env`). The SDK's own `stdio_client` passes
    only `HOME`, `LOGNAME`, `PATH`, `SHELL`, `TERM` and `USER`: name those in
    `pass_env` to do the same. `server.cwd` is the folder it starts in (for
    `docker`, inside the container). Errors starting it are this package's exceptions
    (`CommandNotFoundError` is a `FileNotFoundError`, `SpawnError` an
    `OSError`). Runs under asyncio and anyio's asyncio backend.
    """
    process = await runner.create_subprocess_exec(
        server.command,
        *server.args,
        stdin=PIPE,
        stdout=PIPE,
        stderr=errlog,
        env=server.env,
        cwd=server.cwd,
    )

    read_writer: MemoryObjectSendStream[Union[SessionMessage, Exception]]
    read_writer, read_stream = anyio.create_memory_object_stream[Union[SessionMessage, Exception]](0)
    write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](0)

    async def stdout_reader() -> None:
        assert process.stdout is not None
        decoder = codecs.getincrementaldecoder(server.encoding)(errors=server.encoding_error_handler)
        buffer = ""
        try:
            async with read_writer:
                while True:
                    chunk = await process.stdout.read(1 << 16)
                    if not chunk:
                        break
                    lines = (buffer + decoder.decode(chunk)).split("\n")
                    buffer = lines.pop()
                    for line in lines:
                        if line.strip():
                            await read_writer.send(_parse(line))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass

    async def stdin_writer() -> None:
        assert process.stdin is not None
        stdin = process.stdin
        try:
            async with write_reader:
                async for message in write_reader:
                    data = (_dump(message) + "\n").encode(server.encoding, server.encoding_error_handler)
                    stdin.write(data)
                    await stdin.drain()
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            # The server went away: end the session's reads too.
            await read_writer.aclose()

    async with anyio.create_task_group() as tg:
        tg.start_soon(stdout_reader)
        tg.start_soon(stdin_writer)
        try:
            yield read_stream, write_stream
        finally:
            with anyio.CancelScope(shield=True):
                await _stop(process)
                await read_stream.aclose()
                await write_stream.aclose()
            tg.cancel_scope.cancel()


async def _stop(process: Process) -> None:
    """Closes stdin, waits, then ends the whole tree; always reaps, which
    also removes what the runner created."""
    if process.stdin is not None:
        try:
            process.stdin.close()
        except OSError:
            pass
    with anyio.move_on_after(PROCESS_TERMINATION_TIMEOUT):
        await process.wait()
        return
    process.send_signal(signal.SIGTERM)
    with anyio.move_on_after(FORCE_KILL_TIMEOUT):
        await process.wait()
        return
    process.kill()
    await process.wait()
