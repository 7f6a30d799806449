"""`Runner`: a runner of the C library, shaped like the standard library's
process APIs."""

from __future__ import annotations

import json
import subprocess
import threading
from ctypes import byref, c_void_p
from typing import TYPE_CHECKING, Any, Mapping, Optional

from . import _ffi
from ._ffi import lib
from ._handle import Args, Env, StrOrBytesPath, argv_of, spawn
from ._popen import PIPE, Popen, StreamSpec, run, run_unpiped, stream_plan

if TYPE_CHECKING:
    from ._asyncio import Process


class Runner:
    """A runner of `kind` (`"exec"`, `"firejail"`, `"landrun"` (alias
    `"landlock"`), `"docker"`, `"sandbox-exec"`) with its options (the keys
    of go-restricted-runner's runner of that name).

    The options are checked strictly and the runner's requirements on this
    machine when it is built: `InvalidOptionsError` names a bad key,
    `RequirementsError` says what is missing. A runner is immutable and
    thread-safe: spawn from as many threads (and event loops) at once as
    you like; each spawn takes its own command, environment, working folder
    and params. `close()` (or leaving a `with` block) frees it early;
    processes it started stay valid.
    """

    def __init__(self, kind: str, options: Optional[Mapping[str, Any]] = None) -> None:
        self._kind = kind
        self._ptr: Optional[c_void_p] = None
        self._users = 0
        self._cond = threading.Condition()
        opts = json.dumps(dict(options)).encode() if options else None
        ptr = c_void_p()
        err = c_void_p()
        _ffi.check(lib.rr_runner_new(kind.encode(), opts, byref(ptr), byref(err)), err)
        self._ptr = ptr

    @property
    def kind(self) -> str:
        """The kind this runner was built with."""
        return self._kind

    @staticmethod
    def check_requirements(kind: str, options: Optional[Mapping[str, Any]] = None) -> None:
        """Raises what `Runner(kind, options)` would raise, without keeping a runner."""
        opts = json.dumps(dict(options)).encode() if options else None
        err = c_void_p()
        _ffi.check(lib.rr_check_requirements(kind.encode(), opts, byref(err)), err)

    def _acquire(self) -> c_void_p:
        with self._cond:
            if self._ptr is None:
                raise ValueError("the runner is closed")
            self._users += 1
            return self._ptr

    def _release(self) -> None:
        with self._cond:
            self._users -= 1
            if self._users == 0:
                self._cond.notify_all()

    def close(self) -> None:
        """Frees the runner once calls in progress are done; later calls
        raise ValueError. Closing twice is harmless."""
        with self._cond:
            while self._users:
                self._cond.wait()
            ptr, self._ptr = self._ptr, None
        if ptr is not None:
            lib.rr_runner_free(ptr)

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        ptr = getattr(self, "_ptr", None)
        if ptr is not None:
            lib.rr_runner_free(ptr)
            self._ptr = None

    def __repr__(self) -> str:
        return f"<restricted_runner.Runner {self._kind!r}{' (closed)' if self._ptr is None else ''}>"

    # -- subprocess -------------------------------------------------------

    def popen(
        self,
        args: Args,
        *,
        stdin: StreamSpec = PIPE,
        stdout: StreamSpec = PIPE,
        stderr: StreamSpec = PIPE,
        env: Optional[Env] = None,
        cwd: Optional[StrOrBytesPath] = None,
        params: Optional[Mapping[str, Any]] = None,
        text: bool = False,
        encoding: Optional[str] = None,
        errors: Optional[str] = None,
        bufsize: int = -1,
    ) -> Popen:
        """Starts `args` (the program, looked up in PATH, then its
        arguments; no shell) and returns a `Popen`.

        Streams are PIPE (the default here), DEVNULL, None (the caller's
        own stream), an fd or a file object (with a fileno()), and for
        stderr also STDOUT (where stdout goes, as `2>&1`). The child gets
        that very fd, no copy of its data: a terminal stays a terminal
        (under docker the engine's CLI holds it and relays it to the
        container). `env` adds variables on top
        of what the runner gives the command (by default the caller's
        environment). `cwd` is the folder it starts in (for `docker`, a path
        inside the container). `params` fill the runner's `{{ .name }}`
        placeholders for this spawn.
        """
        ptr = self._acquire()
        try:
            return Popen(
                ptr,
                self._kind,
                args,
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
                env=env,
                cwd=cwd,
                params=params,
                text=text,
                encoding=encoding,
                errors=errors,
                bufsize=bufsize,
            )
        finally:
            self._release()

    def run(
        self,
        args: Args,
        *,
        input: Any = None,
        capture_output: bool = False,
        timeout: Optional[float] = None,
        check: bool = False,
        stdin: StreamSpec = None,
        stdout: StreamSpec = None,
        stderr: StreamSpec = None,
        env: Optional[Env] = None,
        cwd: Optional[StrOrBytesPath] = None,
        params: Optional[Mapping[str, Any]] = None,
        text: bool = False,
        encoding: Optional[str] = None,
        errors: Optional[str] = None,
    ) -> subprocess.CompletedProcess[Any]:
        """Runs `args` to completion, as `subprocess.run` does, and returns a
        `subprocess.CompletedProcess`. With `timeout`, the whole tree is
        killed when it passes and `TimeoutExpired` (a
        `subprocess.TimeoutExpired`) is raised with what was captured; with
        `check`, a non-zero exit raises `subprocess.CalledProcessError`."""
        if input is not None:
            if stdin is not None:
                raise ValueError("stdin and input arguments may not both be used.")
            stdin = PIPE
        if capture_output:
            if stdout is not None or stderr is not None:
                raise ValueError("stdout and stderr arguments may not be used with capture_output.")
            stdout = stderr = PIPE
        plans = [stream_plan(s, i) for i, s in enumerate((stdin, stdout, stderr))]
        if input is None and timeout is None and _ffi.RR_STDIO_PIPE not in (m for m, _ in plans):
            # Nothing to feed nor capture: no Popen, no file objects.
            ptr = self._acquire()
            try:
                handle, _ = spawn(ptr, self._kind, argv_of(args), env, cwd, params, plans)
            finally:
                self._release()
            return run_unpiped(handle, args, check)
        ptr = self._acquire()
        try:
            popen = Popen(
                ptr,
                self._kind,
                args,
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
                env=env,
                cwd=cwd,
                params=params,
                text=text,
                encoding=encoding,
                errors=errors,
                bufsize=-1,
            )
        finally:
            self._release()
        return run(popen, input, timeout, check)

    # -- asyncio ------------------------------------------------------------

    async def create_subprocess_exec(
        self,
        program: StrOrBytesPath,
        *args: StrOrBytesPath,
        stdin: StreamSpec = None,
        stdout: StreamSpec = None,
        stderr: Any = None,
        env: Optional[Env] = None,
        cwd: Optional[StrOrBytesPath] = None,
        params: Optional[Mapping[str, Any]] = None,
        limit: int = 2**16,
    ) -> Process:
        """Starts `program args...` like `asyncio.create_subprocess_exec`
        and returns a `Process` with its interface (StreamWriter and
        StreamReader streams, `wait`, `communicate`, signals). The exit is
        observed through the library's exit fd on the event loop: no thread
        per process. Streams are as for `popen`; stderr may also be a text
        stream without an fd (its `write` is then called from the event
        loop with what the command writes)."""
        from ._asyncio import create_subprocess_exec

        ptr = self._acquire()
        try:
            return await create_subprocess_exec(
                ptr, self._kind, [program, *args], stdin, stdout, stderr, env, cwd, params, limit
            )
        finally:
            self._release()
