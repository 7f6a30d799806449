"""Exceptions: one per status of the C library, each carrying the library's
code, message and errno, and each also an instance of the standard
exception a Python program already catches for that failure."""

from __future__ import annotations

import enum
import subprocess
from typing import Any, Optional, Union

__all__ = [
    "CanceledError",
    "CommandNotFoundError",
    "InternalError",
    "InvalidArgumentError",
    "InvalidOptionsError",
    "RequirementsError",
    "RestrictedRunnerError",
    "RunnerIOError",
    "SpawnError",
    "Status",
    "TimeoutExpired",
    "UnknownRunnerError",
]


class Status(enum.IntEnum):
    """The status codes of the C library (`rr_status`), by value."""

    OK = 0
    INVALID_ARGUMENT = 1
    UNKNOWN_RUNNER = 2
    INVALID_OPTIONS = 3
    REQUIREMENTS = 4
    COMMAND_NOT_FOUND = 5
    SPAWN = 6
    IO = 7
    TIMEOUT = 8
    INTERNAL = 9
    CANCELED = 10


class RestrictedRunnerError(Exception):
    """An error reported by the library.

    `code` is its `Status`, `message` says what was wrong (naming the option
    key, the path, the missing binary), `errno` is the OS error number
    behind it, or 0 when no system call failed.
    """

    code: Status
    message: str
    errno: Optional[int]

    def __init__(self, message: str, code: Status, os_errno: int = 0) -> None:
        super().__init__(message)
        self._set(message, code, os_errno)

    def _set(self, message: str, code: Status, os_errno: int) -> None:
        self.message = message
        self.code = code
        self.errno = os_errno

    def __str__(self) -> str:
        return self.message


class InvalidArgumentError(RestrictedRunnerError, ValueError):
    """An argument was malformed (an env entry without `=`, a NUL byte)."""


class UnknownRunnerError(RestrictedRunnerError, ValueError):
    """The runner kind is not one the library knows; the message lists them."""


class InvalidOptionsError(RestrictedRunnerError, ValueError):
    """The options or params are malformed, have an unknown key or a value
    of the wrong type; the message names the key."""


class RequirementsError(RestrictedRunnerError):
    """Something the runner needs is missing on this machine (a binary, a
    kernel feature, an engine); the message says what and how to get it."""


class _OSErrorMixin(RestrictedRunnerError, OSError):
    def __init__(self, message: str, code: Status, os_errno: int = 0) -> None:
        OSError.__init__(self, os_errno, message)
        self._set(message, code, os_errno)

    def __str__(self) -> str:
        return self.message


class CommandNotFoundError(_OSErrorMixin, FileNotFoundError):
    """The command does not exist; the message names it. Also a
    `FileNotFoundError`, as `subprocess` raises."""

    def __init__(self, message: str, code: Status, os_errno: int = 0) -> None:
        super().__init__(message, code, os_errno or 2)


class SpawnError(_OSErrorMixin):
    """The process could not be started (a working folder that does not
    exist, an exec the sandbox denies). Also an `OSError`."""


class RunnerIOError(_OSErrorMixin):
    """A system call failed while running, signalling or waiting. Also an
    `OSError`."""


class InternalError(RestrictedRunnerError):
    """A bug in the library."""


class CanceledError(RestrictedRunnerError):
    """The call was cancelled."""


_Output = Union[bytes, str, None]


class TimeoutExpired(RestrictedRunnerError, subprocess.TimeoutExpired):
    """A timeout passed before the process exited. Also a
    `subprocess.TimeoutExpired` (with `cmd`, `timeout`, `output`, `stderr`)."""

    def __init__(
        self,
        cmd: Any,
        timeout: float,
        output: _Output = None,
        stderr: _Output = None,
        message: str = "",
    ) -> None:
        subprocess.TimeoutExpired.__init__(self, cmd, timeout, output, stderr)
        self._set(
            message or f"command {cmd!r} still running after {timeout} seconds",
            Status.TIMEOUT,
            0,
        )

    def __str__(self) -> str:
        return subprocess.TimeoutExpired.__str__(self)


_BY_STATUS: dict[int, type[RestrictedRunnerError]] = {
    Status.INVALID_ARGUMENT: InvalidArgumentError,
    Status.UNKNOWN_RUNNER: UnknownRunnerError,
    Status.INVALID_OPTIONS: InvalidOptionsError,
    Status.REQUIREMENTS: RequirementsError,
    Status.COMMAND_NOT_FOUND: CommandNotFoundError,
    Status.SPAWN: SpawnError,
    Status.IO: RunnerIOError,
    Status.INTERNAL: InternalError,
    Status.CANCELED: CanceledError,
}


def error_from_status(status: int, message: str, os_errno: int, cmd: Optional[str] = None) -> RestrictedRunnerError:
    """The exception for a failed status of the C library."""
    if status == Status.TIMEOUT:
        return TimeoutExpired(cmd or "", 0.0, message=message)
    cls = _BY_STATUS.get(status)
    if cls is None:
        return RestrictedRunnerError(message, Status.INTERNAL, os_errno)
    return cls(message, Status(status), os_errno)
