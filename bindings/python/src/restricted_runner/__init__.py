"""Run commands in a restricted environment (exec, firejail, landrun
(Landlock), docker/podman, sandbox-exec), shaped like the standard library:

- `Runner(kind, options).run(...)` and `.popen(...)`, like `subprocess`;
- `await Runner(...).create_subprocess_exec(...)`, like asyncio;
- `restricted_runner.mcp.stdio_client(server, runner)`, a sandboxed stdio
  transport for the MCP Python SDK (with the `mcp` extra).

Every process is reaped with its whole tree, and everything its spawn
created (profile files, containers) is removed.
"""

from __future__ import annotations

from ._asyncio import Process
from ._errors import (
    CanceledError,
    CommandNotFoundError,
    InternalError,
    InvalidArgumentError,
    InvalidOptionsError,
    RequirementsError,
    RestrictedRunnerError,
    RunnerIOError,
    SpawnError,
    Status,
    TimeoutExpired,
    UnknownRunnerError,
)
from ._ffi import version
from ._popen import DEVNULL, PIPE, STDOUT, Popen
from ._runner import Runner

__version__ = "0.1.0"

__all__ = [
    "DEVNULL",
    "PIPE",
    "STDOUT",
    "CanceledError",
    "CommandNotFoundError",
    "InternalError",
    "InvalidArgumentError",
    "InvalidOptionsError",
    "Popen",
    "Process",
    "RequirementsError",
    "RestrictedRunnerError",
    "Runner",
    "RunnerIOError",
    "SpawnError",
    "Status",
    "TimeoutExpired",
    "UnknownRunnerError",
    "version",
]
