"""The C ABI of the library, through ctypes: loading it, the prototypes, and
turning a failed status into an exception."""

from __future__ import annotations

import ctypes
import os
import sys
from ctypes import POINTER, c_char_p, c_int, c_int32, c_int64, c_size_t, c_uint32, c_void_p
from pathlib import Path
from typing import Any, Callable, NoReturn

from ._errors import error_from_status

_LIB_NAME = "librestricted_runner.dylib" if sys.platform == "darwin" else "librestricted_runner.so"


class rr_exit_status(ctypes.Structure):
    _fields_ = [("exited", c_int32), ("code", c_int32), ("signal", c_int32)]


class rr_output(ctypes.Structure):
    _fields_ = [
        ("stdout_data", c_void_p),
        ("stdout_len", c_size_t),
        ("stderr_data", c_void_p),
        ("stderr_len", c_size_t),
        ("status", rr_exit_status),
    ]


# Opaque handles travel as void pointers.
Handle = c_void_p
HandleOut = POINTER(c_void_p)
ErrOut = POINTER(c_void_p)
StrArray = POINTER(c_char_p)
IntOut = POINTER(c_int)


def _library_path() -> str:
    """The bundled library, or the one `RESTRICTED_RUNNER_LIB` names."""
    override = os.environ.get("RESTRICTED_RUNNER_LIB")
    if override:
        return override
    bundled = Path(__file__).with_name("_lib") / _LIB_NAME
    if bundled.exists():
        return str(bundled)
    raise ImportError(
        f"restricted_runner: the shared library {bundled} is missing from this install; "
        "reinstall the package (pip install ./bindings/python builds it with cargo), "
        "or set RESTRICTED_RUNNER_LIB to a built librestricted_runner"
    )


def _load() -> ctypes.CDLL:
    lib = ctypes.CDLL(_library_path())
    protos: dict[str, tuple[Any, list[Any]]] = {
        "rr_version": (c_char_p, []),
        "rr_runner_new": (c_uint32, [c_char_p, c_char_p, HandleOut, ErrOut]),
        "rr_runner_free": (None, [Handle]),
        "rr_check_requirements": (c_uint32, [c_char_p, c_char_p, ErrOut]),
        "rr_spawn_attrs_new": (c_uint32, [HandleOut, ErrOut]),
        "rr_spawn_attrs_free": (None, [Handle]),
        "rr_spawn_attrs_set_cwd": (c_uint32, [Handle, c_char_p, ErrOut]),
        "rr_spawn_attrs_set_measure_usage": (c_uint32, [Handle, c_int, ErrOut]),
        "rr_spawn_attrs_set_stdio": (c_uint32, [Handle, c_int32, c_uint32, c_int32, ErrOut]),
        "rr_spawn": (
            c_uint32,
            [Handle, c_char_p, StrArray, StrArray, c_char_p, Handle, IntOut, IntOut, IntOut, HandleOut, ErrOut],
        ),
        "rr_wait": (c_uint32, [Handle, POINTER(rr_exit_status), ErrOut]),
        "rr_wait_timeout": (c_uint32, [Handle, c_int64, POINTER(rr_exit_status), ErrOut]),
        "rr_process_wait_exit": (c_uint32, [Handle, c_int64, ErrOut]),
        "rr_process_kill": (c_uint32, [Handle, c_int, ErrOut]),
        "rr_process_pid": (c_int32, [Handle]),
        "rr_process_exit_fd": (c_uint32, [Handle, IntOut, ErrOut]),
        "rr_error_code": (c_uint32, [Handle]),
        "rr_error_message": (c_char_p, [Handle]),
        "rr_error_os_code": (c_int32, [Handle]),
        "rr_error_free": (None, [Handle]),
    }
    for name, (restype, argtypes) in protos.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


lib = _load()

RR_OK = 0
RR_ERR_TIMEOUT = 8
RR_ERR_REQUIREMENTS = 4

# rr_stdio_mode: where one standard stream of the child goes.
RR_STDIO_PIPE = 0
RR_STDIO_NULL = 1
RR_STDIO_INHERIT = 2
RR_STDIO_FD = 3
RR_STDIO_STDOUT = 4


def raise_error(status: int, err: c_void_p, context: Callable[[], str] | None = None) -> NoReturn:
    """Raises the exception for a failed call, freeing its error object."""
    message = ""
    os_errno = 0
    if err.value:
        raw = lib.rr_error_message(err)
        message = raw.decode("utf-8", "replace") if raw else ""
        os_errno = lib.rr_error_os_code(err)
        lib.rr_error_free(err)
        err.value = None
    if not message:
        message = f"restricted-runner: status {status}"
    raise error_from_status(status, message, os_errno, context() if context else None)


def check(status: int, err: c_void_p) -> None:
    """Raises for a failed status; frees nothing on success (nothing was made)."""
    if status != RR_OK:
        raise_error(status, err)


def discard(err: c_void_p) -> None:
    """Frees an error object that is not reported."""
    if err.value:
        lib.rr_error_free(err)
        err.value = None


def version() -> str:
    """The version of the loaded C library."""
    raw: bytes = lib.rr_version()
    return raw.decode()
