"""The subprocess-shaped API against the real runners."""

from __future__ import annotations

import errno
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, List

import pytest
from conftest import (
    fd_count,
    landrun_options,
    make_runner,
    still_running,
    thread_count,
    unique_seconds,
    wait_for_pids,
    wait_gone,
)

import restricted_runner as rr

Factory = Callable[[str], rr.Runner]


def test_echo_round_trip_line_by_line(any_runner: rr.Runner) -> None:
    with any_runner.popen(["cat"], text=True, bufsize=1) as p:
        assert p.stdin is not None and p.stdout is not None
        for i in range(50):
            p.stdin.write(f"line {i}\n")
            assert p.stdout.readline() == f"line {i}\n"
        p.stdin.close()
        assert p.stdout.read() == ""
    assert p.returncode == 0
    assert p.pid > 0


def test_run_captures_and_reports_the_exit(any_runner: rr.Runner) -> None:
    done = any_runner.run(["sh", "-c", "echo out; echo err >&2; exit 3"], capture_output=True, text=True)
    assert isinstance(done, subprocess.CompletedProcess)
    assert (done.returncode, done.stdout, done.stderr) == (3, "out\n", "err\n")
    with pytest.raises(subprocess.CalledProcessError) as info:
        any_runner.run(["sh", "-c", "echo bad >&2; exit 4"], capture_output=True, check=True)
    assert info.value.returncode == 4 and info.value.stderr == b"bad\n"
    assert any_runner.run(["true"], check=True).returncode == 0


@pytest.mark.parametrize("kind", ["exec", "landrun", "firejail", "docker"])
def test_communicate_64_mib_both_ways(runner_factory: Factory, kind: str) -> None:
    size = 64 << 20 if kind != "docker" else 16 << 20
    data = bytes(range(256)) * (size // 256)
    p = runner_factory(kind).popen(["sh", "-c", "cat; head -c 1000000 /dev/zero >&2"])
    out, err = p.communicate(data, timeout=300)
    assert p.returncode == 0
    assert len(out) == size and out == data
    assert err == b"\0" * 1_000_000


def test_inputs_and_text(host_runner: rr.Runner) -> None:
    done = host_runner.run(["tr", "a-z", "A-Z"], input="hello\r\nworld", capture_output=True, text=True)
    assert done.stdout == "HELLO\nWORLD"
    done = host_runner.run(["cat"], input=b"\xff\x00", capture_output=True)
    assert done.stdout == b"\xff\x00"


def test_timeouts(host_runner: rr.Runner) -> None:
    t = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired) as info:
        host_runner.run(["sh", "-c", "echo partial; sleep 30"], capture_output=True, timeout=0.5)
    assert time.monotonic() - t < 15
    assert isinstance(info.value, rr.TimeoutExpired) and isinstance(info.value, rr.RestrictedRunnerError)
    assert info.value.stdout == b"partial\n"
    assert info.value.timeout == 0.5

    p = host_runner.popen(["sh", "-c", "echo first; sleep 30"])
    with pytest.raises(subprocess.TimeoutExpired):
        p.wait(timeout=0.2)
    assert p.poll() is None
    # communicate resumes after its own timeout without losing anything.
    with pytest.raises(subprocess.TimeoutExpired) as info:
        p.communicate(timeout=0.5)
    assert info.value.stdout == b"first\n"
    p.kill()
    out, _ = p.communicate()
    assert out == b"first\n"
    assert p.returncode is not None and p.returncode != 0


def test_kill_reaches_the_whole_tree(any_runner: rr.Runner) -> None:
    mark = unique_seconds()
    p = any_runner.popen(["sh", "-c", f"sleep {mark} & sleep 100"])
    grandchildren = wait_for_pids(mark)
    assert grandchildren, "the background sleep never started"
    p.terminate()
    code = p.wait(timeout=60)
    # firejail and the container engines report a signal N as exit 128+N.
    assert code in (-signal.SIGTERM, 128 + signal.SIGTERM)
    assert all(wait_gone(pid) for pid in grandchildren), f"{grandchildren} survived"
    for f in (p.stdin, p.stdout, p.stderr):
        assert f is not None
        f.close()
    # Signals after the reap are a no-op, as in subprocess.
    p.send_signal(signal.SIGKILL)


def test_reaping_ends_what_the_command_left_running(any_runner: rr.Runner) -> None:
    mark = unique_seconds()
    any_runner.run(["sh", "-c", f"sleep {mark} >/dev/null 2>&1 &"], timeout=60)
    assert not still_running(mark), "a background process outlived the run"


class Interrupted(Exception):
    pass


@pytest.mark.parametrize("capture", [False, True])
def test_an_interrupted_run_ends_the_tree(host_runner: rr.Runner, capture: bool) -> None:
    # As a KeyboardInterrupt would: a signal handler raises while run() waits.
    mark = unique_seconds()

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    fds = fd_count()
    try:
        signal.setitimer(signal.ITIMER_REAL, 1.0)
        with pytest.raises(Interrupted):
            host_runner.run(["sh", "-c", f"sleep {mark} & sleep 100"], capture_output=capture)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert not still_running(mark), "the interrupted run left its tree running"
    assert fd_count() == fds
    try:
        zombie = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        zombie = None
    assert zombie is None, f"an unreaped child: {zombie}"


def test_errors_are_the_right_exceptions(runner_factory: Factory, host_dir: Path) -> None:
    r = runner_factory("exec")
    with pytest.raises(FileNotFoundError) as nf:
        r.run(["rr-no-such-command-xyz"])
    assert isinstance(nf.value, rr.CommandNotFoundError)
    assert nf.value.code == rr.Status.COMMAND_NOT_FOUND and "rr-no-such-command-xyz" in str(nf.value)
    with pytest.raises(rr.InvalidOptionsError) as bad:
        rr.Runner("landrun", {"allow_read_folders": "not-a-list"})
    assert "allow_read_folders" in bad.value.message and isinstance(bad.value, ValueError)
    with pytest.raises(rr.UnknownRunnerError, match="chroot"):
        rr.Runner("chroot")
    with pytest.raises(rr.RequirementsError, match="macOS"):
        rr.Runner("sandbox-exec")
    with pytest.raises(rr.InvalidOptionsError, match="missing"):
        make_runner("landrun", landrun_options(write=["{{ .missing }}"])).run(["true"])
    with pytest.raises(OSError) as cwd:
        r.run(["true"], cwd=host_dir / "no-such-folder")
    assert isinstance(cwd.value, rr.SpawnError) and cwd.value.errno == errno.ENOENT
    assert "no-such-folder" in str(cwd.value)
    with pytest.raises(ValueError):
        r.run(["true"], env={"A=B": "x"})
    with pytest.raises(rr.InvalidArgumentError):
        r.run(["true\0"])
    with pytest.raises(ValueError):
        r.run([])
    # A failed spawn leaves no fd behind.
    before = fd_count()
    for _ in range(20):
        with pytest.raises(FileNotFoundError):
            r.popen(["rr-no-such-command-xyz"])
    assert fd_count() == before


def test_devnull_and_inherited_streams(host_runner: rr.Runner, capfd: pytest.CaptureFixture[str]) -> None:
    done = host_runner.run(["sh", "-c", "cat; echo to-out; echo to-err >&2"], stdin=rr.DEVNULL)
    assert done.returncode == 0 and done.stdout is None
    captured = capfd.readouterr()
    assert captured.out == "to-out\n" and captured.err == "to-err\n"
    # Popen too, and an fd as a target.
    r, w = os.pipe()
    with host_runner.popen(["sh", "-c", "echo via-fd"], stdin=rr.DEVNULL, stdout=w, stderr=rr.DEVNULL) as p:
        pass
    os.close(w)
    assert os.read(r, 100) == b"via-fd\n" and p.returncode == 0
    os.close(r)


def test_inherited_stdin_is_forwarded(host_runner: rr.Runner, tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(b"from a file\n")
    with open(src, "rb") as f:
        done = host_runner.run(["cat"], stdin=f, capture_output=True)
    assert done.stdout == b"from a file\n"


def test_cwd_env_and_params(runner_factory: Factory, host_dir: Path) -> None:
    for kind in ("exec", "landrun", "firejail"):
        r = runner_factory(kind)
        done = r.run(["sh", "-c", 'pwd -P; echo "$RR_PY"'], cwd=host_dir, env={"RR_PY": "v a l"}, capture_output=True)
        assert done.stdout.decode().split("\n")[:2] == [os.path.realpath(host_dir), "v a l"], kind
    # A param fills a placeholder for one spawn only.
    r = make_runner("landrun", landrun_options(write=["{{ .out }}"]))
    r.run(["sh", "-c", "echo p > f.txt"], cwd=host_dir, params={"out": str(host_dir)}, check=True)
    assert (host_dir / "f.txt").read_text() == "p\n"


def test_inherit_env_and_pass_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RR_PY_SECRET", "s3cret")
    monkeypatch.setenv("LC_RR_PY", "kept")
    script = 'echo "[$RR_PY_SECRET] [$LC_RR_PY] [$JOB]"'
    clean = make_runner("exec", {"inherit_env": False, "pass_env": ["PATH", "LANG", "LC_*"]})
    done = clean.run(["sh", "-c", script], env={"JOB": "42"}, capture_output=True, text=True, check=True)
    assert done.stdout == "[] [kept] [42]\n"
    done = make_runner("exec", {}).run(["sh", "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout == "[s3cret] [kept] []\n"
    with pytest.raises(rr.InvalidOptionsError, match="pass_env"):
        make_runner("exec", {"pass_env": ["PATH"]})


def test_many_threads_share_one_runner(host_runner: rr.Runner) -> None:
    errors: List[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(10):
                done = host_runner.run(["echo", f"{n}-{i}"], capture_output=True, text=True)
                assert done.stdout == f"{n}-{i}\n"
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_poll_wait_and_signals(host_runner: rr.Runner) -> None:
    p = host_runner.popen(["sleep", "30"], stdin=rr.DEVNULL, stdout=rr.DEVNULL, stderr=rr.DEVNULL)
    assert p.poll() is None and p.returncode is None
    waiter_result: List[int] = []
    waiter = threading.Thread(target=lambda: waiter_result.append(p.wait()))
    waiter.start()
    time.sleep(0.1)
    p.kill()
    waiter.join(30)
    assert waiter_result and waiter_result[0] in (-signal.SIGKILL, 128 + signal.SIGKILL)
    assert p.poll() == waiter_result[0]


def test_closed_runner(runner_factory: Factory) -> None:
    r = runner_factory("exec")
    p = r.popen(["cat"])
    r.close()
    r.close()
    with pytest.raises(ValueError, match="closed"):
        r.run(["true"])
    # What it started stays valid.
    assert p.communicate(b"still here") == (b"still here", b"")


def test_a_forgotten_popen_is_killed_and_reaped(runner_factory: Factory) -> None:
    r = runner_factory("exec")
    p = r.popen(["sh", "-c", "sleep 100 & echo $!; sleep 100"])
    assert p.stdout is not None
    grandchild = int(p.stdout.readline())
    pid = p.pid
    with pytest.warns(ResourceWarning):
        del p
        import gc

        gc.collect()
    assert wait_gone(pid) and wait_gone(grandchild)


def test_version() -> None:
    assert rr.version() == "0.1.0"
    assert sys.version_info >= (3, 9)


def test_an_inherited_dev_null_stays_dev_null(host_runner: rr.Runner) -> None:
    with open(os.devnull) as null:
        done = host_runner.run(["sh", "-c", "readlink /proc/self/fd/0"], stdin=null, capture_output=True, text=True)
    assert done.stdout == "/dev/null\n"


def identity(fd: int) -> str:
    """The device and inode of what `fd` is open on, as `stat -c '%d %i'` prints them."""
    st = os.fstat(fd)
    return f"{st.st_dev} {st.st_ino}"


def test_the_child_holds_the_callers_fds(any_runner: rr.Runner) -> None:
    """Files with no name anywhere (unlinked), so only their fds reach
    them: the child reads stdin from one and writes stdout and
    stderr=STDOUT into the other, with no thread of ours copying. On the
    host runners its fds 0 to 2 are those very files; under docker the
    engine's CLI holds them and relays the data."""
    docker = any_runner.kind == "docker"
    script = "cat; echo to-err >&2"
    if not docker:
        script += "; stat -L -c '%d %i' /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2"
    with tempfile.TemporaryFile() as src, tempfile.TemporaryFile() as dst:
        src.write(b"from the caller\n")
        src.flush()
        src.seek(0)
        threads = thread_count()
        with any_runner.popen(["sh", "-c", script + "; sleep 0.2"], stdin=src, stdout=dst, stderr=rr.STDOUT) as p:
            assert (p.stdin, p.stdout, p.stderr) == (None, None, None)
            assert thread_count() == threads, "a thread runs for the streams"
        assert p.returncode == 0
        dst.seek(0)
        lines = dst.read().decode().splitlines()
        want = ["from the caller", "to-err"]
        if docker:
            # The CLI relays stdout and stderr separately.
            assert sorted(lines) == want
        else:
            assert lines == [*want, identity(src.fileno()), identity(dst.fileno()), identity(dst.fileno())]


def test_stderr_to_stdout(any_runner: rr.Runner) -> None:
    script = "echo one; echo two >&2; echo three"
    done = any_runner.run(["sh", "-c", script], stdout=rr.PIPE, stderr=rr.STDOUT, text=True)
    assert done.stderr is None and done.returncode == 0
    lines = done.stdout.splitlines()
    if any_runner.kind == "docker":
        lines.sort()
    assert lines == (["one", "three", "two"] if any_runner.kind == "docker" else ["one", "two", "three"])
    with any_runner.popen(["sh", "-c", script], stdin=rr.DEVNULL, stderr=rr.STDOUT) as p:
        assert p.stderr is None and p.stdout is not None
        assert len(p.stdout.read().splitlines()) == 3


def read_pty(master: int, until: bytes, within: float = 30.0) -> bytes:
    """What comes out of a pty's master side until `until` shows (or time is up)."""
    got = b""
    deadline = time.monotonic() + within
    while until not in got and time.monotonic() < deadline:
        if select.select([master], [], [], 0.5)[0]:
            try:
                got += os.read(master, 4096)
            except OSError:
                break
    return got


def test_a_terminal_stays_a_terminal(host_runner: rr.Runner) -> None:
    master, slave = os.openpty()
    probe = "[ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo is-a-tty || echo not-a-tty"
    try:
        with host_runner.popen(["sh", "-c", probe], stdin=slave, stdout=slave, stderr=rr.STDOUT) as p:
            got = read_pty(master, b"tty\r\n")
        assert p.returncode == 0
        assert b"is-a-tty" in got, got
        # The caller's own stdin, inherited (None), is the terminal.
        saved = os.dup(0)
        os.dup2(slave, 0)
        try:
            p = host_runner.popen(["sh", "-c", "[ -t 0 ] && echo is-a-tty || echo not-a-tty"], stdin=None)
        finally:
            os.dup2(saved, 0)
            os.close(saved)
        out, _ = p.communicate()
        assert out == b"is-a-tty\n"
    finally:
        os.close(slave)
        os.close(master)


def test_bad_streams_are_errors_that_leave_nothing(runner_factory: Factory) -> None:
    r = runner_factory("exec")
    before = fd_count()
    with pytest.raises(ValueError, match="only for stderr"):
        r.run(["true"], stdin=rr.STDOUT)
    with pytest.raises(ValueError, match="only for stderr"):
        r.run(["true"], stdout=rr.STDOUT)
    with pytest.raises(ValueError, match="invalid stream argument -5"):
        r.run(["true"], stdout=-5)
    # Above `ulimit -n`: never open.
    with pytest.raises(rr.InvalidArgumentError, match="fd 999999"):
        r.run(["true"], stdout=999999)
    with open(os.devnull, "rb") as read_only, pytest.raises(rr.InvalidArgumentError, match="not open for writing"):
        r.run(["true"], stderr=read_only)
    with open(os.devnull, "wb") as write_only, pytest.raises(rr.InvalidArgumentError, match="not open for reading"):
        r.popen(["true"], stdin=write_only)
    assert fd_count() == before
