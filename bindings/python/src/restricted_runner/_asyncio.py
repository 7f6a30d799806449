"""`Process`: the `asyncio.subprocess.Process` interface over a process of
the library, its exit observed through the library's exit fd (a pidfd) on
the event loop instead of a thread per process."""

from __future__ import annotations

import asyncio
import os
import signal
import warnings
from typing import Any, Callable, List, Mapping, Optional, Tuple

from . import _pump
from ._handle import Env, Handle, StrOrBytesPath, argv_of, spawn
from ._popen import StreamSpec, stream_plan

# Where the system has no exit fd, the process is checked at this interval.
_FALLBACK_POLL = 0.01

# Runners whose spawn or reap can take long enough to stall an event loop
# run them in the loop's executor: firejail's spawn waits for the jail's
# set-up, and docker's reap may remove a container.
_SLOW_SPAWN = {"firejail"}
_SLOW_REAP = {"docker"}


class _WriteProtocol(asyncio.streams.FlowControlMixin):
    """The protocol of a write pipe behind a StreamWriter (drain, close)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop=loop)
        self._closed: asyncio.Future[None] = loop.create_future()

    def connection_lost(self, exc: Optional[Exception]) -> None:
        super().connection_lost(exc)
        if not self._closed.done():
            self._closed.set_result(None)

    def _get_close_waiter(self, stream: asyncio.StreamWriter) -> asyncio.Future[None]:
        return self._closed


def _output_sink(target: Any) -> _pump.Sink:
    """Where a relayed output stream goes: an fd, or a text stream's write."""
    if isinstance(target, int):
        return _pump.fd_sink(target)
    fileno = getattr(target, "fileno", None)
    if fileno is not None:
        try:
            return _pump.fd_sink(fileno())
        except (OSError, ValueError):
            pass
    write: Callable[[str], Any] = target.write
    encoding = getattr(target, "encoding", None) or "utf-8"

    def sink(data: bytes) -> None:
        write(data.decode(encoding, "replace"))

    return sink


def _has_fd(stream: Any) -> bool:
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


class Process:
    """A process started by `Runner.create_subprocess_exec`, with the
    interface of `asyncio.subprocess.Process`: `pid`, `returncode`,
    `stdin` (a StreamWriter), `stdout` and `stderr` (StreamReaders) for
    streams given as PIPE, `wait`, `communicate`, `send_signal`,
    `terminate`, `kill`. Signals reach the whole process tree; the reap
    ends what is left of it and removes everything the spawn created.
    Works under asyncio and under anyio's asyncio backend."""

    def __init__(self, handle: Handle, loop: asyncio.AbstractEventLoop, args: List[Any]) -> None:
        self._handle = handle
        self._loop = loop
        self.args = args
        self.pid: int = handle.pid
        self.returncode: Optional[int] = None
        self.stdin: Optional[asyncio.StreamWriter] = None
        self.stdout: Optional[asyncio.StreamReader] = None
        self.stderr: Optional[asyncio.StreamReader] = None
        self._exited: asyncio.Future[int] = loop.create_future()
        self._relay_readers: List[int] = []
        self._relay: Optional[_pump.Relay] = None
        self._watching: Optional[int] = None
        self._timer: Optional[asyncio.TimerHandle] = None

    def __repr__(self) -> str:
        return f"<restricted_runner.Process {self.pid}>"

    # -- exit ---------------------------------------------------------------

    def _watch_exit(self) -> None:
        fd = self._handle.exit_fd()
        if fd is not None:
            self._watching = fd
            self._loop.add_reader(fd, self._on_exit)
        else:
            self._timer = self._loop.call_later(_FALLBACK_POLL, self._poll_exit)

    def _poll_exit(self) -> None:
        self._timer = None
        try:
            exited = self._handle.exited()
        except BaseException as e:
            self._fail(e)
            return
        if exited:
            self._on_exit()
        else:
            self._timer = self._loop.call_later(_FALLBACK_POLL, self._poll_exit)

    def _on_exit(self) -> None:
        if self._watching is not None:
            # Before the reap, which closes the fd.
            self._loop.remove_reader(self._watching)
            self._watching = None
        if self._handle.kind in _SLOW_REAP:
            fut = self._loop.run_in_executor(None, self._handle.reap)
            fut.add_done_callback(self._reaped)
            return
        try:
            code = self._handle.reap()
        except BaseException as e:
            self._fail(e)
            return
        self._set_returncode(code)

    def _reaped(self, fut: asyncio.Future[int]) -> None:
        exc = fut.exception()
        if exc is not None:
            self._fail(exc)
        else:
            self._set_returncode(fut.result())

    def _set_returncode(self, code: int) -> None:
        self.returncode = code
        if self._relay is not None:
            relay, self._relay = self._relay, None
            relay.finish()
        if not self._exited.done():
            self._exited.set_result(code)

    def _fail(self, exc: BaseException) -> None:
        self.returncode = self._handle.returncode if self._handle.returncode is not None else -1
        if not self._exited.done():
            self._exited.set_exception(exc)

    async def wait(self) -> int:
        """Waits for the process to exit; returns its returncode (the exit
        code, or -N for signal N)."""
        return await asyncio.shield(self._exited)

    # -- signals ------------------------------------------------------------

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

    # -- communicate ----------------------------------------------------------

    async def _feed(self, input: Optional[bytes]) -> None:
        stdin = self.stdin
        assert stdin is not None
        try:
            if input:
                stdin.write(input)
                await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            stdin.close()

    async def communicate(self, input: Optional[bytes] = None) -> Tuple[Optional[bytes], Optional[bytes]]:
        """Sends `input` (then closes stdin), reads stdout and stderr to
        their end, waits for the exit; returns (stdout, stderr)."""

        async def nothing() -> None:
            return None

        async def read(r: Optional[asyncio.StreamReader]) -> Optional[bytes]:
            return None if r is None else await r.read()

        feed = self._feed(input) if self.stdin is not None else nothing()
        _, out, err = await asyncio.gather(feed, read(self.stdout), read(self.stderr))
        await self.wait()
        return out, err

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle is None or handle.reaped:
            return
        warnings.warn(
            f"restricted_runner: process {self.pid} was not waited for; killing its tree",
            ResourceWarning,
            stacklevel=2,
        )
        try:
            handle.kill(signal.SIGKILL)
            if self._watching is not None and not self._loop.is_closed():
                self._loop.remove_reader(self._watching)
            handle.wait_exit(None)
            handle.reap()
        except Exception:
            pass


async def create_subprocess_exec(
    runner_ptr: Any,
    kind: str,
    args: List[StrOrBytesPath],
    stdin: StreamSpec,
    stdout: StreamSpec,
    stderr: Any,
    env: Optional[Env],
    cwd: Optional[StrOrBytesPath],
    params: Optional[Mapping[str, Any]],
    limit: int,
) -> Process:
    loop = asyncio.get_running_loop()
    specs = [stdin, stdout, stderr]
    plans: List[Tuple[bool, Optional[int]]] = []
    sinks: List[Optional[_pump.Sink]] = [None, None, None]
    for index, spec in enumerate(specs):
        if index == 2 and spec is not None and not isinstance(spec, int) and not _has_fd(spec):
            # A text stream without an fd (io.StringIO): written to with write().
            plans.append((True, -1))
            sinks[2] = _output_sink(spec)
            continue
        plans.append(stream_plan(spec, index))
    argv = argv_of(args)
    pipes = (plans[0][0], plans[1][0], plans[2][0])

    def start() -> Tuple[Handle, Tuple[int, int, int]]:
        return spawn(runner_ptr, kind, argv, env, cwd, params, pipes)

    if kind in _SLOW_SPAWN:
        handle, fds = await loop.run_in_executor(None, start)
    else:
        handle, fds = start()

    proc = Process(handle, loop, list(args))
    forwarders: List[_pump.Channel] = []
    try:
        for index, ((_, relay_fd), fd) in enumerate(zip(plans, fds)):
            if fd < 0:
                continue
            if relay_fd is not None:
                if index == 0:
                    forwarders.append(_pump.Forwarder(relay_fd, fd))
                else:
                    sink = sinks[index] or _output_sink(relay_fd)
                    _relay_on_loop(loop, fd, sink)
                continue
            if index == 0:
                transport, protocol = await loop.connect_write_pipe(
                    lambda: _WriteProtocol(loop), open(fd, "wb", buffering=0)
                )
                proc.stdin = asyncio.StreamWriter(transport, protocol, None, loop)
            else:
                reader = asyncio.StreamReader(limit=limit, loop=loop)
                await loop.connect_read_pipe(_reader_protocol(reader, loop), open(fd, "rb", buffering=0))
                if index == 1:
                    proc.stdout = reader
                else:
                    proc.stderr = reader
        if forwarders:
            # The caller's stdin may be a terminal or a file, which an event
            # loop cannot always watch: a helper thread copies it.
            proc._relay = _pump.Relay(forwarders)
    except BaseException:
        handle.kill(signal.SIGKILL)
        handle.wait_exit(None)
        handle.reap()
        raise
    proc._watch_exit()
    return proc


def _reader_protocol(
    reader: asyncio.StreamReader, loop: asyncio.AbstractEventLoop
) -> Callable[[], asyncio.StreamReaderProtocol]:
    return lambda: asyncio.StreamReaderProtocol(reader, loop=loop)


def _relay_on_loop(loop: asyncio.AbstractEventLoop, fd: int, sink: _pump.Sink) -> None:
    """Copies a child's output pipe to `sink` from the event loop."""
    os.set_blocking(fd, False)

    def readable() -> None:
        try:
            data = os.read(fd, _pump.CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            sink(data)
            return
        loop.remove_reader(fd)
        os.close(fd)

    loop.add_reader(fd, readable)
