"""One spawned process of the C library: its handle, consumed exactly once
by `rr_wait`, and the arguments of a spawn turned into C values."""

from __future__ import annotations

import json
import os
import select
import threading
import time
from ctypes import byref, c_char_p, c_int, c_void_p
from typing import Any, Mapping, Optional, Sequence, Tuple, Union

from . import _ffi
from ._errors import InvalidArgumentError, Status
from ._ffi import lib

StrOrBytesPath = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
Args = Union[StrOrBytesPath, Sequence[StrOrBytesPath]]
# As typeshed spells subprocess's env.
Env = Union[Mapping[bytes, StrOrBytesPath], Mapping[str, StrOrBytesPath]]

# How often a process is checked where the system has no exit fd.
_POLL_START = 0.001
_POLL_MAX = 0.05


def argv_of(args: Args) -> list[bytes]:
    """The argv of `args`: a sequence, or one program without arguments."""
    if isinstance(args, (str, bytes, os.PathLike)):
        items: list[bytes] = [no_nul("the program", os.fsencode(args))]
    else:
        items = [no_nul("an argument", os.fsencode(a)) for a in args]
    if not items:
        raise ValueError("args is empty: it must name at least the program")
    return items


def no_nul(what: str, value: bytes) -> bytes:
    """`value`, unless it holds a NUL byte, which C would silently cut at."""
    if b"\0" in value:
        raise InvalidArgumentError(f"{what} {value!r} contains a NUL byte", Status.INVALID_ARGUMENT)
    return value


def _strings(items: Sequence[bytes]) -> Any:
    if not items:
        return None
    arr = (c_char_p * (len(items) + 1))()
    arr[: len(items)] = list(items)
    arr[len(items)] = None
    return arr


def _env_entries(env: Optional[Env]) -> list[bytes]:
    if not env:
        return []
    out = []
    for k, v in env.items():
        key = os.fsencode(k)
        if not key or b"=" in key:
            raise ValueError(f"environment variable name {k!r} is empty or holds '='")
        out.append(no_nul("an environment entry", key + b"=" + os.fsencode(v)))
    return out


class Handle:
    """An `rr_process`: pid, exit fd, waits, signals, and the one reap.

    `kill` and `wait_exit` may run in other threads while one thread waits;
    `reap` consumes the C handle under a lock that `kill` shares, so a
    signal never reaches a freed handle (and never a reused pid: the library
    signals nothing once the process was reaped).
    """

    __slots__ = ("_exit_fd", "_kind", "_lock", "_ptr", "pid", "returncode")

    def __init__(self, ptr: c_void_p, kind: str) -> None:
        self._ptr: Optional[c_void_p] = ptr
        self._lock = threading.Lock()
        self.pid: int = lib.rr_process_pid(ptr)
        self._exit_fd: Optional[int] = None
        self.returncode: Optional[int] = None
        self._kind = kind

    @property
    def kind(self) -> str:
        return self._kind

    def exit_fd(self) -> Optional[int]:
        """The fd that becomes readable at exit, owned by the handle; None
        where the system has none, or once reaped."""
        if self._exit_fd is not None:
            return self._exit_fd
        with self._lock:
            if self._ptr is None:
                return None
            fd = c_int(-1)
            err = c_void_p()
            if lib.rr_process_exit_fd(self._ptr, byref(fd), byref(err)) != _ffi.RR_OK:
                _ffi.discard(err)
                return None
            self._exit_fd = fd.value
            return fd.value

    def exited(self) -> bool:
        """Whether the process has exited (it may not be reaped yet)."""
        with self._lock:
            if self._ptr is None:
                return True
            err = c_void_p()
            status = lib.rr_process_wait_exit(self._ptr, 0, byref(err))
        if status == _ffi.RR_OK:
            return True
        if status == _ffi.RR_ERR_TIMEOUT:
            _ffi.discard(err)
            return False
        _ffi.raise_error(status, err)

    def wait_exit(self, timeout: Optional[float]) -> bool:
        """Waits until the process exited, without reaping; False when
        `timeout` passed first. Interruptible by signals (KeyboardInterrupt)."""
        if self._ptr is None:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        fd = self.exit_fd()
        if fd is not None:
            # Readable once the process has exited, at once if it has.
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            while True:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                if poller.poll(None if left is None else int(left * 1000 + 0.999)):
                    return True
                if deadline is not None and time.monotonic() >= deadline:
                    return self.exited()
        nap = _POLL_START
        while not self.exited():
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                nap = min(nap, left)
            time.sleep(nap)
            nap = min(nap * 2, _POLL_MAX)
        return True

    def reap(self) -> int:
        """Reaps the exited (or about to exit) process, ends what is left
        of its tree, removes what its spawn created, and frees the handle.
        Returns the returncode: the exit code, or -N for signal N."""
        with self._lock:
            if self._ptr is None:
                if self.returncode is None:
                    raise RuntimeError("the process handle was lost")
                return self.returncode
            st = _ffi.rr_exit_status()
            err = c_void_p()
            ptr, self._ptr = self._ptr, None
            self._exit_fd = None
            status = lib.rr_wait(ptr, byref(st), byref(err))
            if status != _ffi.RR_OK:
                self.returncode = -1
                _ffi.raise_error(status, err)
            self.returncode = st.code if st.exited else -st.signal
            return self.returncode

    def kill(self, sig: int) -> None:
        """Sends `sig` to the whole tree; nothing once reaped."""
        with self._lock:
            if self._ptr is None:
                return
            err = c_void_p()
            _ffi.check(lib.rr_process_kill(self._ptr, sig, byref(err)), err)

    @property
    def reaped(self) -> bool:
        return self._ptr is None


#: Where one stream of the child goes: an `rr_stdio_mode` and, for
#: `RR_STDIO_FD`, the caller's fd (else -1).
StdioPlan = Tuple[int, int]


def _attrs(cwd: Optional[StrOrBytesPath], stdio: Sequence[StdioPlan]) -> c_void_p:
    """The spawn attributes of `cwd` and `stdio`, which the caller frees.
    Nothing here reports what a run cost, so the library is told not to
    measure it (the exec runner then reads no cgroup counters at the
    wait)."""
    attrs = c_void_p()
    err = c_void_p()
    try:
        _ffi.check(lib.rr_spawn_attrs_new(byref(attrs), byref(err)), err)
        _ffi.check(lib.rr_spawn_attrs_set_measure_usage(attrs, 0, byref(err)), err)
        if cwd is not None:
            folder = no_nul("the working folder", os.fsencode(cwd))
            _ffi.check(lib.rr_spawn_attrs_set_cwd(attrs, folder, byref(err)), err)
        for stream, (mode, fd) in enumerate(stdio):
            if mode != _ffi.RR_STDIO_PIPE:
                _ffi.check(lib.rr_spawn_attrs_set_stdio(attrs, stream, mode, fd, byref(err)), err)
    except BaseException:
        if attrs.value:
            lib.rr_spawn_attrs_free(attrs)
        raise
    return attrs


#: Attributes naming no fd and no folder, by their stdio modes: made once and
#: kept (the library only reads them, from any thread), as there are few.
_SHARED_ATTRS: dict[Tuple[int, int, int], c_void_p] = {}
_SHARED_LOCK = threading.Lock()


def _shared_attrs(stdio: Sequence[StdioPlan]) -> c_void_p:
    key = (stdio[0][0], stdio[1][0], stdio[2][0])
    attrs = _SHARED_ATTRS.get(key)
    if attrs is None:
        with _SHARED_LOCK:
            attrs = _SHARED_ATTRS.get(key)
            if attrs is None:
                attrs = _SHARED_ATTRS[key] = _attrs(None, stdio)
    return attrs


def spawn(
    runner_ptr: c_void_p,
    kind: str,
    argv: list[bytes],
    env: Optional[Env],
    cwd: Optional[StrOrBytesPath],
    params: Optional[Mapping[str, Any]],
    stdio: Sequence[StdioPlan],
) -> Tuple[Handle, Tuple[int, int, int]]:
    """Starts `argv` with its three streams where `stdio` says; returns the
    handle and the caller's ends of the pipes (-1 for a stream that is not
    `RR_STDIO_PIPE`). The fds in `stdio` need only stay open until it
    returns: the library gives the child copies."""
    args = _strings(argv[1:])
    entries = _env_entries(env)
    envp = _strings(entries)
    params_json = json.dumps(dict(params)).encode() if params else None
    fds = (c_int(-1), c_int(-1), c_int(-1))
    refs = [byref(fd) if mode == _ffi.RR_STDIO_PIPE else None for fd, (mode, _) in zip(fds, stdio)]
    out = c_void_p()
    err = c_void_p()
    shared = cwd is None and all(fd < 0 for _, fd in stdio)
    attrs = _shared_attrs(stdio) if shared else _attrs(cwd, stdio)
    try:
        status = lib.rr_spawn(
            runner_ptr, argv[0], args, envp, params_json, attrs, refs[0], refs[1], refs[2], byref(out), byref(err)
        )
    finally:
        if not shared:
            lib.rr_spawn_attrs_free(attrs)
    if status != _ffi.RR_OK:
        _ffi.raise_error(status, err)
    return Handle(out, kind), (fds[0].value, fds[1].value, fds[2].value)
