"""Runners for the tests, built against the real sandboxes of this machine.

Each runner kind is a parameter; a kind this machine lacks is skipped,
unless RR_REQUIRE_ALL_RUNNERS=1 (as CI sets), which makes it a failure.
Landrun runners get an explicit policy: read and execute the system
folders and the Python interpreter's, read /etc, write one folder.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

import restricted_runner as rr

ROOT = Path(__file__).resolve().parents[3]
NODE_DIR = ROOT / "target" / "mcp-node"
# Host folders every runner sees as they are: firejail replaces /tmp.
HOST_BASE = Path("/srv/restricted-runner-tests")


def require_all() -> bool:
    return os.environ.get("RR_REQUIRE_ALL_RUNNERS") == "1"


def interpreter_folders() -> List[str]:
    """Where this Python and its packages live (a venv links to a base)."""
    found = set()
    for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.realpath(sys.executable)):
        real = Path(os.path.realpath(p))
        found.add(str(real if real.is_dir() else real.parent.parent))
    return sorted(found)


def system_folders() -> List[str]:
    return [d for d in ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32") if os.path.isdir(d)]


def landrun_options(write: Optional[List[str]] = None, read: Optional[List[str]] = None) -> Dict[str, Any]:
    return {
        "allow_read_exec_folders": system_folders() + interpreter_folders(),
        "allow_read_folders": ["/etc", *(read or [])],
        "allow_write_folders": list(write or []),
        # /dev/null is always allowed; pipes need nothing.
    }


def firejail_options(write: Optional[List[str]] = None, read: Optional[List[str]] = None) -> Dict[str, Any]:
    # The interpreter's folders stay visible wherever the checkout lives
    # (firejail gives the jail a private /tmp).
    return {
        "allow_read_folders": [*interpreter_folders(), *(read or [])],
        "allow_write_folders": list(write or []),
    }


def docker_options() -> Dict[str, Any]:
    return {
        "image": os.environ.get("RR_TEST_IMAGE", "localhost/rr-test:latest"),
        "engine": "podman",
        "pull": "never",
        "allow_networking": False,
    }


def make_runner(kind: str, options: Dict[str, Any]) -> rr.Runner:
    try:
        return rr.Runner(kind, options)
    except rr.RequirementsError as e:
        if require_all():
            pytest.fail(f"the {kind} runner is unavailable here: {e}")
        pytest.skip(f"the {kind} runner is unavailable here: {e}")


@pytest.fixture
def host_dir() -> Iterator[Path]:
    """A fresh folder every runner sees at the same path as the host."""
    try:
        HOST_BASE.mkdir(parents=True, exist_ok=True)
        base = str(HOST_BASE)
    except OSError:
        base = None
    with tempfile.TemporaryDirectory(prefix="rr-py-", dir=base) as d:
        yield Path(d)


HOST_KINDS = ["exec", "landrun", "firejail"]
ALL_KINDS = [*HOST_KINDS, "docker"]


@pytest.fixture
def runner_factory(host_dir: Path) -> Callable[[str], rr.Runner]:
    """Builds a runner of a kind that may read and write `host_dir`."""

    def build(kind: str) -> rr.Runner:
        if kind == "exec":
            return make_runner("exec", {})
        if kind == "landrun":
            return make_runner("landrun", landrun_options(write=[str(host_dir)]))
        if kind == "firejail":
            return make_runner("firejail", firejail_options(write=[str(host_dir)]))
        if kind == "docker":
            os.environ.setdefault("DOCKER_HOST", os.environ.get("RR_DOCKER_SOCK", "unix:///tmp/rr-podman.sock"))
            return make_runner("docker", docker_options())
        raise ValueError(kind)

    return build


@pytest.fixture(params=HOST_KINDS)
def host_runner(request: pytest.FixtureRequest, runner_factory: Callable[[str], rr.Runner]) -> rr.Runner:
    kind: str = request.param
    return runner_factory(kind)


@pytest.fixture(params=ALL_KINDS)
def any_runner(request: pytest.FixtureRequest, runner_factory: Callable[[str], rr.Runner]) -> rr.Runner:
    kind: str = request.param
    return runner_factory(kind)


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pid: int, within: float = 5.0) -> bool:
    import time

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.02)
    return not pid_alive(pid)


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def thread_count() -> int:
    return len(os.listdir("/proc/self/task"))


def unique_seconds() -> str:
    """A `sleep` argument no other process has, to find it in /proc."""
    import random

    return f"{random.randint(1000, 9999)}.{random.randint(100000, 999999)}"


def pids_running(arg: str) -> List[int]:
    """Host pids of live processes with `arg` among their arguments (seen
    from the host whatever namespace or container they run in)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if arg.encode() in argv and pid_alive(int(name)):
            found.append(int(name))
    return found


def wait_for_pids(arg: str, within: float = 10.0) -> List[int]:
    import time

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        pids = pids_running(arg)
        if pids:
            return pids
        time.sleep(0.02)
    return []


def still_running(arg: str, within: float = 5.0) -> List[int]:
    """The processes with `arg` still alive after waiting up to `within`
    seconds for them to go (a kill takes the kernel a moment)."""
    import time

    deadline = time.monotonic() + within
    while True:
        pids = pids_running(arg)
        if not pids or time.monotonic() >= deadline:
            return pids
        time.sleep(0.02)
