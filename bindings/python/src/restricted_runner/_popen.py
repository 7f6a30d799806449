"""`Popen`: the `subprocess.Popen` interface over a process of the library."""

from __future__ import annotations

import io
import locale
import os
import signal
import subprocess
import threading
import time
import warnings
from types import TracebackType
from typing import IO, Any, List, Mapping, Optional, Sequence, Tuple, Type, Union

from . import _ffi, _pump
from ._errors import TimeoutExpired
from ._handle import Args, Env, Handle, StdioPlan, StrOrBytesPath, argv_of, spawn

PIPE = subprocess.PIPE
DEVNULL = subprocess.DEVNULL
STDOUT = subprocess.STDOUT

#: What a stream argument may be: PIPE, DEVNULL, None (the caller's own
#: stream), an fd, a file object with a fileno(), or for stderr STDOUT.
StreamSpec = Union[int, IO[Any], None]


def stream_plan(spec: StreamSpec, index: int) -> StdioPlan:
    """Where stream `index` (0 stdin, 1 stdout, 2 stderr) of the child goes
    for the argument `spec`, as the library takes it."""
    if spec is None:
        return _ffi.RR_STDIO_INHERIT, -1
    if spec is PIPE or spec == PIPE:
        return _ffi.RR_STDIO_PIPE, -1
    if spec == DEVNULL:
        return _ffi.RR_STDIO_NULL, -1
    if spec == STDOUT:
        if index != 2:
            raise ValueError("STDOUT is only for stderr (stderr=STDOUT sends it where stdout goes)")
        return _ffi.RR_STDIO_STDOUT, -1
    if isinstance(spec, int):
        if spec < 0:
            raise ValueError(f"invalid stream argument {spec}")
        return _ffi.RR_STDIO_FD, spec
    fileno = getattr(spec, "fileno", None)
    if fileno is None:
        raise TypeError(f"stream argument {spec!r} is neither PIPE, DEVNULL, STDOUT, None, an fd nor a file")
    fd = fileno()
    assert isinstance(fd, int)
    return _ffi.RR_STDIO_FD, fd


def _translate(data: bytes, encoding: Optional[str], errors: Optional[str]) -> str:
    text = data.decode(encoding or _default_encoding(), errors or "strict")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _default_encoding() -> str:
    # What subprocess uses for text mode without an encoding.
    return locale.getpreferredencoding(False)


class Popen:
    """A process started by a `Runner`, with the interface of
    `subprocess.Popen`: `args`, `pid`, `stdin`/`stdout`/`stderr` file
    objects (for streams given as PIPE), `returncode`, `poll`, `wait`,
    `communicate`, `send_signal`, `terminate`, `kill`, and use as a context
    manager. Signals reach the whole process tree (process group, or
    container); reaping ends what is left of it and removes everything the
    spawn created. Use from several threads as with `subprocess.Popen`:
    `kill` and `poll` may run while another thread waits.
    """

    def __init__(
        self,
        runner_ptr: Any,
        kind: str,
        args: Args,
        *,
        stdin: StreamSpec,
        stdout: StreamSpec,
        stderr: StreamSpec,
        env: Optional[Env],
        cwd: Optional[StrOrBytesPath],
        params: Optional[Mapping[str, Any]],
        text: bool,
        encoding: Optional[str],
        errors: Optional[str],
        bufsize: int,
    ) -> None:
        self.args: Args = args
        self.returncode: Optional[int] = None
        self.stdin: Optional[IO[Any]] = None
        self.stdout: Optional[IO[Any]] = None
        self.stderr: Optional[IO[Any]] = None
        self.text_mode = bool(text or encoding or errors)
        self.encoding = encoding
        self.errors = errors
        self._comm: Optional[_Communication] = None
        self._finishing = threading.Lock()

        plans = [stream_plan(s, i) for i, s in enumerate((stdin, stdout, stderr))]
        self._handle: Handle
        self._handle, fds = spawn(runner_ptr, kind, argv_of(args), env, cwd, params, plans)
        self.pid: int = self._handle.pid

        try:
            for index, fd in enumerate(fds):
                if fd >= 0:
                    self._wrap(index, fd, bufsize)
        except BaseException:
            self._abandon()
            raise

    def _wrap(self, index: int, fd: int, bufsize: int) -> None:
        line_buffering = bufsize == 1
        if bufsize == 1:
            bufsize = -1
        if index == 0:
            raw = open(fd, "wb", bufsize)
            if self.text_mode:
                self.stdin = io.TextIOWrapper(
                    raw,
                    write_through=True,
                    line_buffering=line_buffering,
                    encoding=self.encoding or _default_encoding(),
                    errors=self.errors,
                )
            else:
                self.stdin = raw
            return
        f: IO[Any] = open(fd, "rb", bufsize)
        if self.text_mode:
            f = io.TextIOWrapper(f, encoding=self.encoding or _default_encoding(), errors=self.errors)
        if index == 1:
            self.stdout = f
        else:
            self.stderr = f

    def _abandon(self) -> None:
        """Ends a process whose set-up failed after the spawn."""
        for f in (self.stdin, self.stdout, self.stderr):
            if f is not None:
                try:
                    f.close()
                except OSError:
                    pass
        self._handle.kill(signal.SIGKILL)
        self.returncode = self._handle.reap()

    # -- waiting -----------------------------------------------------------

    def poll(self) -> Optional[int]:
        """The returncode if the process has exited (reaping it), else None."""
        if self.returncode is None and self._handle.exited():
            self._finish()
        return self.returncode

    def wait(self, timeout: Optional[float] = None) -> int:
        """Waits for the process to exit and reaps it; raises
        `TimeoutExpired` (a `subprocess.TimeoutExpired`) when `timeout`
        seconds pass first, leaving it running."""
        if self.returncode is not None:
            return self.returncode
        if not self._handle.wait_exit(timeout):
            assert timeout is not None
            raise TimeoutExpired(self.args, timeout)
        return self._finish()

    def _finish(self) -> int:
        with self._finishing:
            if self.returncode is None:
                self.returncode = self._handle.reap()
            return self.returncode

    def communicate(self, input: Any = None, timeout: Optional[float] = None) -> Tuple[Any, Any]:
        """Sends `input` to stdin (then closes it), reads stdout and stderr
        to their end, and waits for the process, all at once so that no
        pipe fills up; returns (stdout, stderr), None for streams that are
        not PIPE. On `TimeoutExpired` nothing is lost: call it again."""
        if self._comm is None:
            self._comm = _Communication(self, input)
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._comm.run(deadline):
            assert timeout is not None
            raise TimeoutExpired(self.args, timeout, self._comm.partial(0), self._comm.partial(1))
        if deadline is None:
            self.wait()
        else:
            try:
                self.wait(max(0.0, deadline - time.monotonic()))
            except TimeoutExpired as e:
                assert timeout is not None
                raise TimeoutExpired(self.args, timeout, self._comm.partial(0), self._comm.partial(1)) from e
        return self._comm.result()

    # -- signals -----------------------------------------------------------

    def send_signal(self, sig: int) -> None:
        """Sends `sig` to the whole process tree; nothing once it was reaped."""
        if self.returncode is None:
            self._handle.kill(int(sig))

    def terminate(self) -> None:
        """SIGTERM to the whole tree."""
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL to the whole tree."""
        self.send_signal(signal.SIGKILL)

    # -- context manager and clean-up -------------------------------------

    def __enter__(self) -> Popen:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        for f in (self.stdout, self.stderr):
            if f is not None:
                f.close()
        try:
            if self.stdin is not None:
                try:
                    self.stdin.close()
                except BrokenPipeError:
                    pass
        finally:
            if exc_type is KeyboardInterrupt:
                # As subprocess does: give it a moment, then leave it to __del__.
                try:
                    self.wait(0.25)
                except TimeoutExpired:
                    pass
            else:
                self.wait()

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle is None or self.returncode is not None or handle.reaped:
            return
        warnings.warn(
            f"restricted_runner: process {self.pid} was not waited for; killing its tree",
            ResourceWarning,
            source=self,
            stacklevel=2,
        )
        try:
            handle.kill(signal.SIGKILL)
            self._finish()
        except Exception:
            pass

    def __repr__(self) -> str:
        return f"<restricted_runner.Popen: returncode: {self.returncode} args: {self.args!r}>"


class _Communication:
    """The state of `communicate`, kept across a timeout."""

    def __init__(self, popen: Popen, input: Any) -> None:
        self.popen = popen
        self.chunks: Tuple[List[bytes], List[bytes]] = ([], [])
        self.captured = (popen.stdout is not None, popen.stderr is not None)
        self.channels: List[_pump.Channel] = []
        if popen.stdin is not None:
            stdin = popen.stdin
            try:
                stdin.flush()
            except BrokenPipeError:
                pass
            if input:
                data = (
                    input.encode(popen.encoding or _default_encoding(), popen.errors or "strict")
                    if isinstance(input, str)
                    else bytes(input)
                )
                fd = stdin.fileno()
                os.set_blocking(fd, False)
                self.channels.append(_pump.Writer(fd, data, self._close_stdin))
            else:
                self._close_stdin()
        for index, f in ((0, popen.stdout), (1, popen.stderr)):
            if f is not None:
                self.channels.append(_pump.Reader(f.fileno(), self.chunks[index].append))

    def _close_stdin(self) -> None:
        stdin = self.popen.stdin
        if stdin is not None:
            try:
                stdin.close()
            except (BrokenPipeError, BlockingIOError):
                pass

    def run(self, deadline: Optional[float]) -> bool:
        return _pump.pump(self.channels, deadline)

    def partial(self, index: int) -> Optional[bytes]:
        return b"".join(self.chunks[index]) if self.captured[index] else None

    def result(self) -> Tuple[Any, Any]:
        out: List[Any] = []
        for index, f in ((0, self.popen.stdout), (1, self.popen.stderr)):
            if not self.captured[index]:
                out.append(None)
                continue
            data = b"".join(self.chunks[index])
            if f is not None:
                f.close()
            out.append(_translate(data, self.popen.encoding, self.popen.errors) if self.popen.text_mode else data)
        return out[0], out[1]


def run(
    popen: Popen,
    input: Any,
    timeout: Optional[float],
    check: bool,
) -> subprocess.CompletedProcess[Any]:
    """`subprocess.run`'s body over an already started `Popen`."""
    with popen:
        try:
            stdout, stderr = popen.communicate(input, timeout=timeout)
        except TimeoutExpired as exc:
            popen.kill()
            # The tree is dead: what it wrote is all in the pipes.
            exc.stdout, exc.stderr = popen.communicate()
            raise
        except BaseException:
            popen.kill()
            raise
        retcode = popen.poll()
        assert retcode is not None
    if check and retcode:
        raise subprocess.CalledProcessError(retcode, popen.args, output=stdout, stderr=stderr)
    return subprocess.CompletedProcess(popen.args, retcode, stdout, stderr)


def run_unpiped(handle: Handle, args: Args, check: bool) -> subprocess.CompletedProcess[Any]:
    """`subprocess.run`'s body for a process with no pipe and no timeout:
    wait (interruptible, as `subprocess.run` is), reap, report. On any
    exception while waiting (KeyboardInterrupt), the tree is killed first."""
    try:
        if hasattr(os, "waitid"):
            # Nothing else holds this handle: its pid stays this process's
            # child, unreaped, until the reap below, so waiting on the pid is
            # safe, and one system call (interrupted by signals, as
            # subprocess's wait is).
            try:
                os.waitid(os.P_PID, handle.pid, os.WEXITED | os.WNOWAIT)
            except ChildProcessError:
                pass
        else:
            handle.wait_exit(None)
    except BaseException:
        handle.kill(signal.SIGKILL)
        handle.reap()
        raise
    retcode = handle.reap()
    if check and retcode:
        raise subprocess.CalledProcessError(retcode, args)
    return subprocess.CompletedProcess(args, retcode)


__all__ = ["DEVNULL", "PIPE", "STDOUT", "Popen", "Sequence", "StreamSpec", "run", "run_unpiped", "stream_plan"]
