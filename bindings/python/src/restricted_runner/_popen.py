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

from . import _pump
from ._errors import TimeoutExpired
from ._handle import Args, Env, Handle, StrOrBytesPath, argv_of, spawn

PIPE = subprocess.PIPE
DEVNULL = subprocess.DEVNULL
STDOUT = subprocess.STDOUT

#: What a stream argument may be: PIPE, DEVNULL, None (the caller's own
#: stream), an fd, or a file object with a fileno().
StreamSpec = Union[int, IO[Any], None]


def stream_plan(spec: StreamSpec, index: int) -> Tuple[bool, Optional[int]]:
    """(whether the child gets a pipe, the caller fd to relay it with or None)."""
    if spec is PIPE or spec == PIPE:
        return True, None
    if spec == DEVNULL:
        return False, None
    if spec == STDOUT:
        raise ValueError(
            "stderr=STDOUT is not supported: the library gives each stream its own pipe; "
            "capture both and join them, or run the command through a shell with 2>&1"
        )
    if spec is None:
        fd = index
    elif isinstance(spec, int):
        if spec < 0:
            raise ValueError(f"invalid stream argument {spec}")
        fd = spec
    else:
        fileno = getattr(spec, "fileno", None)
        if fileno is None:
            raise TypeError(f"stream argument {spec!r} is neither PIPE, DEVNULL, None, an fd nor a file")
        fd = fileno()
        assert isinstance(fd, int)
    # Copying to or from /dev/null is /dev/null (services and CI often
    # run with it as stdin).
    if _is_dev_null(fd):
        return False, None
    return True, fd


_DEV_NULL: Optional[Tuple[int, int]] = None


def _is_dev_null(fd: int) -> bool:
    global _DEV_NULL
    try:
        st = os.fstat(fd)
        if _DEV_NULL is None:
            null = os.stat(os.devnull)
            _DEV_NULL = (null.st_rdev, null.st_mode)
    except OSError:
        return False
    return (st.st_rdev, st.st_mode & 0o170000) == (_DEV_NULL[0], _DEV_NULL[1] & 0o170000)


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
        relay_in_communicate: bool = False,
    ) -> None:
        self.args: Args = args
        self.returncode: Optional[int] = None
        self.stdin: Optional[IO[Any]] = None
        self.stdout: Optional[IO[Any]] = None
        self.stderr: Optional[IO[Any]] = None
        self.text_mode = bool(text or encoding or errors)
        self.encoding = encoding
        self.errors = errors
        self._relay: Optional[_pump.Relay] = None
        self._relay_channels: List[_pump.Channel] = []
        self._comm: Optional[_Communication] = None
        self._finishing = threading.Lock()

        plans = [stream_plan(s, i) for i, s in enumerate((stdin, stdout, stderr))]
        self._handle: Handle
        self._handle, fds = spawn(
            runner_ptr,
            kind,
            argv_of(args),
            env,
            cwd,
            params,
            (plans[0][0], plans[1][0], plans[2][0]),
        )
        self.pid: int = self._handle.pid

        try:
            for index, ((_, relay_fd), fd) in enumerate(zip(plans, fds)):
                if fd < 0:
                    continue
                if relay_fd is not None:
                    if index == 0:
                        self._relay_channels.append(_pump.Forwarder(relay_fd, fd))
                    else:
                        self._relay_channels.append(_pump.Reader(fd, _pump.fd_sink(relay_fd), close=True))
                    continue
                self._wrap(index, fd, bufsize)
            if self._relay_channels:
                forwards = any(isinstance(ch, _pump.Forwarder) for ch in self._relay_channels)
                exit_fd = self._handle.exit_fd() if relay_in_communicate and forwards else None
                if relay_in_communicate and (exit_fd is not None or not forwards):
                    # `communicate` copies them in its own loop, no thread
                    # needed; the exit ends the copy of the caller's stdin.
                    if exit_fd is not None:
                        self._relay_channels.append(_pump.ExitWatch(exit_fd, self._relay_channels))
                else:
                    self._relay = _pump.Relay(self._relay_channels)
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
        for ch in self._relay_channels:
            ch.done()
        self._relay_channels = []
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
                code = self._handle.reap()
                if self._relay is not None:
                    self._relay.finish()
                    self._relay = None
                self.returncode = code
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
        self.channels: List[_pump.Channel] = list(popen._relay_channels) if popen._relay is None else []
        popen._relay_channels = []
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


__all__ = ["DEVNULL", "PIPE", "STDOUT", "Popen", "Sequence", "StreamSpec", "run"]
